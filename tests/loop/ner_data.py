"""A small synthetic NER project shared by the span tests of the loop: people and places in
templated sentences, some with an emoji before the first entity (offsets in code points)."""

from __future__ import annotations

from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelconfig.spans import Span

NER_CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels></View>"""

NER = parse_label_config(NER_CONFIG)
PEOPLE = ["Alice", "Bob", "Carla", "Dmitri", "Emma", "Farid", "Greta", "Hiro", "Ines", "Jonas"]
PLACES = ["Paris", "Berlin", "Lagos", "Tokyo", "Lima", "Oslo", "Quito", "Dakar", "Hanoi"]
TEMPLATES = ["{p} flew to {l} yesterday", "🎉 {p} is in {l} now", "we saw {p} at the market",
             "the weather in {l} is nice", "nothing much happened today",
             "{p} and {q} went home", "rain again in {l} 😞"]


def ner_task(tid: int) -> tuple[str, tuple[Span, ...]]:
    """Task ``tid``'s text and its true spans (code points; some texts have an emoji first)."""
    template = TEMPLATES[tid % len(TEMPLATES)]
    names = {"p": (PEOPLE[tid % 10], "PER"), "q": (PEOPLE[(tid * 3 + 1) % 10], "PER"),
             "l": (PLACES[tid % 9], "LOC")}
    text, spans = "", []
    for part in template.replace("{", "\0{").replace("}", "}\0").split("\0"):
        if part.startswith("{"):
            word, label = names[part[1:-1]]
            spans.append(Span(len(text), len(text) + len(word), label))
            text += word
        else:
            text += part
    return text, tuple(spans)


def span_result(text: str, spans: tuple[Span, ...]) -> list[dict[str, object]]:
    """A Label Studio annotation result holding ``spans`` of ``text``."""
    return [{"from_name": "ner", "to_name": "text", "type": "labels",
             "value": {"start": s.start, "end": s.end, "text": text[s.start:s.end],
                       "labels": [s.label]}} for s in spans]
