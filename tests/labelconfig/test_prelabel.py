"""The one pre-label resolver (labelconfig/prelabel.py): LLM first, else the model, validated."""

from __future__ import annotations

from labelloop.labelconfig.kinds import build_result, validate_result
from labelloop.labelconfig.prelabel import (
    MachineLabel,
    from_labels,
    from_result,
    resolve_prelabel,
    to_prelabel,
)
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelconfig.spans import Span

CHOICES = parse_label_config("""<View><Text name="text" value="$text"/>
<Choices name="c" toName="text"><Choice value="A"/><Choice value="Bee" alias="B"/>
</Choices></View>""")
MULTI = parse_label_config("""<View><Text name="text" value="$text"/>
<Choices name="c" toName="text" choice="multiple"><Choice value="A"/><Choice value="B"/>
<Choice value="C"/></Choices></View>""")
SPANS = parse_label_config("""<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels></View>""")
TEXT = "😀 Ann lives in Rome"


def test_the_llm_label_wins_over_the_model() -> None:
    llm = from_labels(CHOICES, ["B"], source="llm", version="llm-x", score=0.9)
    model = from_labels(CHOICES, ["A"], source="model", version="m-1", score=0.6)
    got = resolve_prelabel(CHOICES, [llm, model], text=None)
    assert got is not None and got.source == "llm" and got.version == "llm-x"
    assert got.result[0]["value"] == {"choices": ["B"]} and got.score == 0.9
    assert got.result[0]["score"] == 0.9
    validate_result(CHOICES, got.result)


def test_an_llm_label_outside_the_config_falls_back_to_the_model() -> None:
    llm = from_labels(CHOICES, ["Bee"], source="llm", score=0.9)  # the value, not the output
    model = from_labels(CHOICES, ["A"], source="model", version="m-1")
    got = resolve_prelabel(CHOICES, [llm, model], text=None)
    assert got is not None and got.source == "model" and got.score is None
    assert got.result[0]["value"] == {"choices": ["A"]} and "score" not in got.result[0]


def test_nothing_valid_gives_no_prelabel() -> None:
    assert resolve_prelabel(CHOICES, [], text=None) is None
    assert resolve_prelabel(CHOICES, [None, None], text=None) is None
    bad = from_labels(CHOICES, ["A", "B"], source="llm")  # two labels in single choice
    assert bad is not None and resolve_prelabel(CHOICES, [bad], text=None) is None


def test_from_labels_orders_and_dedupes_and_ignores_empty_answers() -> None:
    got = from_labels(MULTI, ["C", "A", "C"], source="llm")
    assert got is not None and got.label == ("A", "C")
    assert from_labels(MULTI, [], source="llm") is None
    assert from_labels(MULTI, None, source="llm") is None
    assert from_labels(SPANS, ["PER"], source="llm") is None  # not a classification schema


def test_a_confidence_is_clipped_to_zero_one() -> None:
    for raw, want in ((1.7, 1.0), (-0.2, 0.0)):
        got = to_prelabel(CHOICES, MachineLabel(("A",), "llm", score=raw), text=None)
        assert got is not None and got.score == want and got.result[0]["score"] == want


def test_a_stored_model_prediction_reads_back_with_its_region_score() -> None:
    stored = build_result(CHOICES, ("B",), score=0.7)
    machine = from_result(CHOICES, stored, source="model", text=None, version="m-2")
    assert machine == MachineLabel(("B",), "model", "m-2", 0.7)
    got = resolve_prelabel(CHOICES, [None, machine], text=None)
    assert got is not None and got.result == stored


def test_an_unusable_stored_prediction_is_no_candidate() -> None:
    assert from_result(CHOICES, [], source="model", text=None) is None
    stale = [{"from_name": "c", "to_name": "text", "type": "choices",
              "value": {"choices": ["Gone"]}}]
    assert from_result(CHOICES, stale, source="model", text=None) is None


def test_span_prelabels_are_placed_on_the_text_with_their_scores() -> None:
    spans = (Span(2, 5, "PER"), Span(15, 19, "LOC"))
    llm = MachineLabel(spans, "llm", "llm-x", 0.8, {Span(2, 5, "PER"): 0.9})
    got = resolve_prelabel(SPANS, [llm], text=TEXT)
    assert got is not None
    assert [(r["value"]["text"], r.get("score")) for r in got.result] == [("Ann", 0.9),
                                                                         ("Rome", None)]
    validate_result(SPANS, got.result, text=TEXT)
    back = from_result(SPANS, got.result, source="model", text=TEXT)
    assert back is not None and back.label == spans
    assert dict(back.region_scores) == {Span(2, 5, "PER"): 0.9}


def test_a_span_the_text_does_not_hold_falls_back_and_no_text_gives_nothing() -> None:
    llm = MachineLabel((Span(2, 50, "PER"),), "llm")
    model = MachineLabel((Span(15, 19, "LOC"),), "model", "m-1")
    got = resolve_prelabel(SPANS, [llm, model], text=TEXT)
    assert got is not None and got.source == "model"
    assert resolve_prelabel(SPANS, [model], text=None) is None


def test_no_entities_is_a_prelabel_with_an_empty_result() -> None:
    got = resolve_prelabel(SPANS, [MachineLabel((), "llm", score=0.8)], text=TEXT)
    assert got is not None and got.result == [] and got.score == 0.8
