"""What labelloop can serve in a Label Studio labeling config.

:func:`parse_label_config` reads the XML with ``label_studio_sdk.label_interface`` and returns a
:class:`LabelSchema`. Text classification (``<Choices>`` on ``<Text>``, single or multiple choice)
is supported; anything else parses into a schema with ``supported=False`` and a reason that says
why, so that ``/setup`` can accept the connection and ``/predict`` can answer "no prediction".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from label_studio_sdk.label_interface import LabelInterface

from labelloop.errors import InvalidInput

TaskType = Literal["text_classification"]


@dataclass(frozen=True)
class Choice:
    value: str  # what annotators see (and the LLM is shown)
    output: str  # what Label Studio stores in results: the alias when set, else the value
    hint: str | None = None


@dataclass(frozen=True)
class LabelSchema:
    supported: bool
    reason: str | None = None
    task_type: TaskType | None = None
    from_name: str | None = None
    to_name: str | None = None
    data_key: str | None = None  # key in task["data"] the text comes from
    choices: tuple[Choice, ...] = ()
    multiple: bool = False
    instructions: str | None = None
    other_controls: tuple[str, ...] = field(default_factory=tuple)

    @property
    def labels(self) -> list[str]:
        """The output labels, in config order."""
        return [c.output for c in self.choices]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LabelSchema:
        d = dict(d)
        d["choices"] = tuple(Choice(**c) for c in d.get("choices", ()))
        d["other_controls"] = tuple(d.get("other_controls", ()))
        return cls(**d)


def load_interface(xml: str) -> LabelInterface:
    """Parse a labeling config; a config that is not XML raises :class:`InvalidInput`."""
    if not isinstance(xml, str) or not xml.strip():
        raise InvalidInput("the labeling config is empty")
    try:
        return LabelInterface(xml)
    except Exception as exc:  # the SDK raises lxml and its own error types
        raise InvalidInput(f"the labeling config is not valid XML: {exc}") from exc


def parse_label_config(xml: str, *, instructions: str | None = None) -> LabelSchema:
    """Read what labelloop would predict for this config. Raises only for unparseable XML."""
    li = load_interface(xml)
    controls = list(li.controls)
    if not controls:
        return LabelSchema(False, "the config has no control tag (nothing to label)")
    unsupported: list[str] = []
    for control in controls:
        if control.tag != "Choices":
            unsupported.append(f"{control.tag} '{control.name}'")
            continue
        text_objects = [o for o in control.objects if o.tag == "Text"]
        if not text_objects:
            kinds = ", ".join(sorted({o.tag for o in control.objects})) or "nothing known"
            unsupported.append(f"Choices '{control.name}' on {kinds}")
            continue
        obj = text_objects[0]
        value = obj.value or ""
        if not value.startswith("$") or len(value) < 2:
            unsupported.append(f"Choices '{control.name}' on a Text without a $field value")
            continue
        choices = tuple(
            Choice(value=str(tag.attr.get("value", key)), output=key,
                   hint=tag.attr.get("hint") or None)
            for key, tag in control.labels_attrs.items()
        )
        if len(choices) < 2:
            unsupported.append(f"Choices '{control.name}' with fewer than 2 choices")
            continue
        others = tuple(f"{c.tag}:{c.name}" for c in controls if c.name != control.name)
        return LabelSchema(
            supported=True, task_type="text_classification", from_name=control.name,
            to_name=obj.name, data_key=value[1:], choices=choices,
            multiple=bool(control.is_multiple_choice), instructions=instructions or None,
            other_controls=others,
        )
    return LabelSchema(
        False,
        "labelloop serves text classification (<Choices> on <Text>) so far; this config has: "
        + "; ".join(unsupported),
    )
