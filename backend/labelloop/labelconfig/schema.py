"""What labelloop can serve in a Label Studio labeling config: the schema of a project.

:func:`parse_label_config` reads the XML with ``label_studio_sdk.label_interface`` and returns a
:class:`LabelSchema` for the first control a task type of :mod:`labelloop.labelconfig.kinds`
serves (classification: ``<Choices>`` on ``<Text>``, ``<Image>``, ``<Audio>``/``<AudioPlus>``;
text spans: ``<Labels>`` on ``<Text>``); the other controls are listed in ``other_controls``, and
why each is not served in ``not_served``. A config nothing in it is served parses into a schema
with ``supported=False`` and a reason that says why, so that ``/setup`` can accept the connection
and ``/predict`` can answer "no prediction".

``task_type`` names the label layer's task type: the shape of a label (``text_classification``:
a tuple of choices, whatever the object; ``text_spans``: spans of a text). ``modality`` names the
input the labels are about (:mod:`labelloop.modalities`: ``text``, ``image``, ``audio``), which
decides how a task becomes a vector (:mod:`labelloop.loop.inputs`), not how its labels read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from label_studio_sdk.label_interface import LabelInterface

from labelloop.errors import InvalidInput
from labelloop.modalities import Modality

TaskType = Literal["text_classification", "text_spans", "text_triplets"]


@dataclass(frozen=True)
class Choice:
    value: str  # what annotators see (and the LLM is shown)
    output: str  # what Label Studio stores in results: the alias when set, else the value
    hint: str | None = None
    control: str | None = None  # the control (``from_name``) it belongs to, when several serve


@dataclass(frozen=True)
class LabelSchema:
    supported: bool
    reason: str | None = None
    task_type: TaskType | None = None
    from_name: str | None = None
    to_name: str | None = None
    data_key: str | None = None  # key in task["data"] the input (text or media value) comes from
    choices: tuple[Choice, ...] = ()
    multiple: bool = False
    instructions: str | None = None
    other_controls: tuple[str, ...] = field(default_factory=tuple)
    granularity: str | None = None  # <Labels granularity="word|symbol">, when set
    modality: Modality = "text"  # what the object tag holds (labelloop.modalities)
    not_served: tuple[str, ...] = ()  # why each control of other_controls is not served

    @property
    def controls(self) -> list[str]:
        """Every control name the schema serves (several ``<Labels>`` on one ``<Text>``)."""
        names = [c.control for c in self.choices if c.control]
        return list(dict.fromkeys(names)) or ([self.from_name] if self.from_name else [])

    def control_of(self, output: str) -> str | None:
        """The control a label (output value) belongs to."""
        for c in self.choices:
            if c.output == output:
                return c.control or self.from_name
        return None

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
        d["not_served"] = tuple(d.get("not_served", ()))
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
    """Read what labelloop would predict for this config. Raises only for unparseable XML.

    The parsers live with their task types (:mod:`labelloop.labelconfig.kinds`), which import
    this module: hence the import inside the function.
    """
    from labelloop.labelconfig.kinds import parse_config

    return parse_config(load_interface(xml), instructions=instructions)
