"""The label layer's contract, run on every task type in ``KINDS`` alike.

Each task type is given by a :class:`Case`: a labeling config, a task text and a canonical label
valid for it. The contract: the config parses into a schema of that type; ``build(label)``
validates and reads back as ``label``; a result that targets another control, another object,
another region type, a label outside the config or carries a bad score is refused by
``validate`` and does not read back as ``label``. Type-specific reasons follow the contract.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import pytest

from labelloop.errors import InvalidInput
from labelloop.labelconfig.kinds import (
    KINDS,
    Label,
    Region,
    Unusable,
    build_result,
    is_valid_result,
    kind_of,
    label_row,
    read_label,
    task_text,
    validate_result,
)
from labelloop.labelconfig.schema import LabelSchema, parse_label_config
from labelloop.labelconfig.spans import Span


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    config: str
    text: str
    label: Label
    outside: str  # a label value the config does not have
    data_key: str = "review"  # the $field the task's text is read from


CHOICES_XML = """<View><Text name="text" value="$review"/>
<Choices name="sentiment" toName="text">
  <Choice value="Positive"/><Choice value="Negative" alias="neg"/><Choice value="Neutral"/>
</Choices></View>"""
MULTI_XML = """<View><Text name="text" value="$review"/>
<Choices name="topics" toName="text" choice="multiple">
  <Choice value="Price"/><Choice value="Service"/><Choice value="Food"/>
</Choices></View>"""
SPANS_XML = """<View>
<Labels name="ner" toName="text"><Label value="PER"/><Label value="Location" alias="LOC"/></Labels>
<Text name="text" value="$review"/></View>"""
MULTI_SPANS_XML = """<View>
<Labels name="ner" toName="text" choice="multiple"><Label value="PER"/><Label value="ORG"/></Labels>
<Text name="text" value="$review"/></View>"""

TRIPLETS_XML = """<View><Text name="text" value="$anchor"/>
<Text name="one" value="$first"/><Text name="two" value="$second"/>
<Choices name="closer" toName="text">
  <Choice value="The first" alias="first"/><Choice value="second"/><Choice value="tie"/>
</Choices></View>"""

EMOJI = "Hi 😀 Alice, welcome to Paris 🇫🇷 and Paris again"
CASES = [
    Case("single_choice", "text_classification", CHOICES_XML, "great food", ("neg",), "Bad"),
    Case("multiple_choice", "text_classification", MULTI_XML, "cheap but slow",
         ("Price", "Service"), "Weather"),
    Case("spans", "text_spans", SPANS_XML, EMOJI,
         (Span(5, 10, "PER"), Span(23, 28, "LOC"), Span(36, 41, "LOC")), "ORG"),
    Case("spans_multiple_labels", "text_spans", MULTI_SPANS_XML, "Jordan joined Jordan Ltd",
         (Span(0, 6, "ORG"), Span(0, 6, "PER"), Span(14, 24, "ORG")), "LOC"),
    Case("triplets", "text_triplets", TRIPLETS_XML, "a cat", ("second",), "The first",
         data_key="anchor"),
]


def test_every_task_type_has_a_contract_case() -> None:
    assert {c.kind for c in CASES} == set(KINDS)


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def schema_of(case: Case) -> LabelSchema:
    return parse_label_config(case.config)


def built(case: Case, **kw: float) -> list[Region]:
    return build_result(schema_of(case), case.label, text=case.text, **kw)


# --- parse ---------------------------------------------------------------------------------------


def test_the_config_parses_into_a_schema_of_its_type(case: Case) -> None:
    schema = schema_of(case)
    assert schema.supported and schema.reason is None
    assert schema.task_type == case.kind
    assert kind_of(schema) is KINDS[case.kind]
    assert schema.data_key == case.data_key and schema.to_name == "text"
    assert LabelSchema.from_json(schema.to_json()) == schema
    assert task_text(schema, {case.data_key: case.text}) == case.text
    assert task_text(schema, {"other": case.text}) is None


# --- build -> validate -> read ------------------------------------------------------------------


def test_a_built_result_validates_and_reads_back_as_the_label(case: Case) -> None:
    schema = schema_of(case)
    result = built(case)
    validate_result(schema, result, text=case.text)
    assert is_valid_result(schema, result, text=case.text)
    assert read_label(schema, result, text=case.text) == case.label


def test_a_score_is_carried_and_the_result_still_reads_back(case: Case) -> None:
    schema = schema_of(case)
    spans = [s for s in case.label if isinstance(s, Span)]
    result = build_result(schema, case.label, text=case.text, score=0.25,
                          region_scores={s: 0.25 for s in spans})
    assert all(r["score"] == 0.25 for r in result)
    validate_result(schema, result, text=case.text)
    assert read_label(schema, result, text=case.text) == case.label


def test_reading_is_independent_of_region_order_and_of_other_controls(case: Case) -> None:
    schema = schema_of(case)
    other = {"from_name": "comment", "to_name": "text", "type": "textarea",
             "value": {"text": ["hello"]}}
    result = [other, *reversed(built(case))]
    assert read_label(schema, result, text=case.text) == case.label


def test_an_empty_result_is_a_valid_score_only_prediction(case: Case) -> None:
    validate_result(schema_of(case), [], text=case.text)


def test_a_result_that_is_not_a_list_is_refused_and_unusable(case: Case) -> None:
    schema = schema_of(case)
    for bad in (None, {}, "x", 3):
        assert not is_valid_result(schema, bad, text=case.text)
        assert read_label(schema, bad, text=case.text) == Unusable("without_label")


# --- invalid results ----------------------------------------------------------------------------


def mutated(case: Case, field: str, value: object) -> list[Region]:
    result = copy.deepcopy(built(case))
    result[0][field] = value
    return result


@pytest.mark.parametrize("field,value", [
    ("from_name", "nope"), ("to_name", "nope"), ("type", "textarea"), ("from_name", None),
])
def test_a_result_for_another_control_object_or_type_is_refused(case: Case, field: str,
                                                                  value: object) -> None:
    schema = schema_of(case)
    result = mutated(case, field, value)
    with pytest.raises(InvalidInput):
        validate_result(schema, result, text=case.text)
    if field != "to_name":  # reading goes by control (from_name) and type only
        assert read_label(schema, result, text=case.text) != case.label


def outside_label(case: Case) -> list[Region]:
    result = copy.deepcopy(built(case))
    value = result[0]["value"]
    key = "choices" if "choices" in value else "labels"
    value[key] = [case.outside]
    return result


def test_a_label_outside_the_config_is_refused_and_unusable(case: Case) -> None:
    schema = schema_of(case)
    result = outside_label(case)
    with pytest.raises(InvalidInput, match="outside"):
        validate_result(schema, result, text=case.text)
    assert read_label(schema, result, text=case.text) == Unusable("label_not_in_config")


def test_building_a_label_outside_the_config_raises(case: Case) -> None:
    schema = schema_of(case)
    first = case.label[0]
    bad: Label = ((Span(first.start, first.end, case.outside),) if isinstance(first, Span)
                  else (case.outside,))
    with pytest.raises(InvalidInput):
        build_result(schema, bad, text=case.text)


@pytest.mark.parametrize("score", [1.5, -0.1, math.nan, "0.5", True])
def test_a_bad_score_is_refused(case: Case, score: object) -> None:
    schema = schema_of(case)
    with pytest.raises(InvalidInput, match="score"):
        validate_result(schema, mutated(case, "score", score), text=case.text)


@pytest.mark.parametrize("score", [0, 0.0, 1, 1.0, 0.5])
def test_scores_within_zero_and_one_pass(case: Case, score: float) -> None:
    validate_result(schema_of(case), mutated(case, "score", score), text=case.text)


def test_a_region_that_is_not_an_object_is_refused(case: Case) -> None:
    with pytest.raises(InvalidInput):
        validate_result(schema_of(case), [*built(case), "region"], text=case.text)


def test_an_unsupported_schema_has_no_kind(case: Case) -> None:
    schema = parse_label_config('<View><Image name="i" value="$img"/></View>')
    assert not schema.supported and schema.reason
    with pytest.raises(InvalidInput, match="not supported"):
        read_label(schema, built(case), text=case.text)


# --- classification: its own Unusable reasons and rows --------------------------------------------


def choices_region(*chosen: object, from_name: str = "sentiment") -> Region:
    return {"from_name": from_name, "to_name": "text", "type": "choices",
            "value": {"choices": list(chosen)}}


@pytest.mark.parametrize("result,reason", [
    ([], "without_label"),
    ([choices_region()], "without_label"),
    ([choices_region("neg", from_name="other")], "without_label"),
    ([{"from_name": "sentiment", "type": "choices", "value": "neg"}], "without_label"),
    ([choices_region("neg"), choices_region("Positive")], "ambiguous_regions"),
    ([choices_region("Negative")], "label_not_in_config"),  # the value, not the alias
    ([choices_region(1)], "label_not_in_config"),
    ([choices_region("neg", "Positive")], "several_choices_in_single_choice"),
])
def test_classification_unusable_reasons(result: list[Region], reason: str) -> None:
    schema = parse_label_config(CHOICES_XML)
    assert read_label(schema, result, text=None) == Unusable(reason)


def test_classification_reads_choices_in_config_order_without_repeats() -> None:
    schema = parse_label_config(MULTI_XML)
    got = read_label(schema, [choices_region("Food", "Price", "Food", from_name="topics")],
                     text=None)
    assert got == ("Price", "Food")


def test_classification_refuses_a_repeated_label_and_several_regions() -> None:
    schema = parse_label_config(MULTI_XML)
    with pytest.raises(InvalidInput, match="repeats"):
        validate_result(schema, [choices_region("Food", "Food", from_name="topics")])
    with pytest.raises(InvalidInput, match="regions"):
        validate_result(schema, [choices_region("Food", from_name="topics"),
                                 choices_region("Price", from_name="topics")])


def test_classification_rows_are_one_hot_and_multi_hot() -> None:
    single = parse_label_config(CHOICES_XML)
    np.testing.assert_array_equal(label_row(single, ("neg",)), [0.0, 1.0, 0.0])
    multi = parse_label_config(MULTI_XML)
    np.testing.assert_array_equal(label_row(multi, ("Price", "Food")), [1.0, 0.0, 1.0])


# --- spans: their own Unusable reasons ------------------------------------------------------------


def span_region(start: object, end: object, *labels: object, text: object = None,
                from_name: str = "ner") -> Region:
    value: dict[str, object] = {"start": start, "end": end, "labels": list(labels)}
    if text is not None:
        value["text"] = text
    return {"from_name": from_name, "to_name": "text", "type": "labels", "value": value}


TEXT = "Alice met Bob in Paris"


@pytest.mark.parametrize("result,reason", [
    ([span_region(0, 5, "PER", text="Alice"), span_region(0, 99, "PER")], "invalid_span"),
    ([span_region(-1, 5, "PER")], "invalid_span"),
    ([span_region(5, 5, "PER")], "invalid_span"),
    ([span_region(6, 2, "PER")], "invalid_span"),
    ([span_region("0", 5, "PER")], "invalid_span"),
    ([span_region(True, 5, "PER")], "invalid_span"),
    ([span_region(0, 5)], "invalid_span"),  # no label
    ([span_region(0, 5, "PER", text="Alicia")], "invalid_span"),  # text not what it covers
    ([{"from_name": "ner", "to_name": "text", "type": "choices",
       "value": {"choices": ["PER"]}}], "invalid_span"),
    ([{"from_name": "ner", "to_name": "text", "type": "labels", "value": []}], "invalid_span"),
    ([span_region(0, 5, "Location")], "label_not_in_config"),  # the value, not the alias
    ([span_region(0, 5, 7)], "label_not_in_config"),
])
def test_span_unusable_reasons(result: list[Region], reason: str) -> None:
    schema = parse_label_config(SPANS_XML)
    assert read_label(schema, result, text=TEXT) == Unusable(reason)


def test_spans_need_the_task_text_to_be_read_built_or_validated() -> None:
    schema = parse_label_config(SPANS_XML)
    result = build_result(schema, (Span(0, 5, "PER"),), text=TEXT)
    assert read_label(schema, result, text=None) == Unusable("task_without_text")
    with pytest.raises(InvalidInput, match="text"):
        validate_result(schema, result, text=None)
    with pytest.raises(InvalidInput, match="text"):
        build_result(schema, (Span(0, 5, "PER"),), text=None)


def test_no_entities_is_a_label_and_a_region_without_text_is_read() -> None:
    schema = parse_label_config(SPANS_XML)
    assert read_label(schema, [], text=TEXT) == ()
    assert read_label(schema, [span_region(17, 22, "LOC")], text=TEXT) == (Span(17, 22, "LOC"),)


def test_a_span_region_with_several_labels_is_one_span_per_label() -> None:
    schema = parse_label_config(MULTI_SPANS_XML)
    got = read_label(schema, [span_region(0, 5, "PER", "ORG", text="Alice")], text=TEXT)
    assert got == (Span(0, 5, "ORG"), Span(0, 5, "PER"))


@pytest.mark.parametrize("bad", [
    Span(0, 99, "PER"), Span(3, 3, "PER"), Span(-1, 2, "PER"), Span(0, 5, "Location"),
])
def test_an_invalid_span_is_never_built(bad: Span) -> None:
    schema = parse_label_config(SPANS_XML)
    with pytest.raises(InvalidInput):
        build_result(schema, (bad,), text=TEXT)


def test_span_validation_refuses_wrong_text_offsets_and_repeats() -> None:
    schema = parse_label_config(SPANS_XML)
    with pytest.raises(InvalidInput, match="value.text"):
        validate_result(schema, [span_region(0, 5, "PER", text="Alicia")], text=TEXT)
    with pytest.raises(InvalidInput, match="value.text"):
        validate_result(schema, [span_region(0, 5, "PER")], text=TEXT)  # text is required
    with pytest.raises(InvalidInput, match="outside the text"):
        validate_result(schema, [span_region(18, 30, "LOC", text="aris")], text=TEXT)
    with pytest.raises(InvalidInput, match="repeats"):
        validate_result(schema, [span_region(0, 5, "PER", text="Alice")] * 2, text=TEXT)
    with pytest.raises(InvalidInput, match="single-label"):
        validate_result(parse_label_config(SPANS_XML),
                        [span_region(0, 5, "PER", "LOC", text="Alice")], text=TEXT)


def test_spans_have_no_rows() -> None:
    assert label_row(parse_label_config(SPANS_XML), (Span(0, 5, "PER"),)) is None


# --- configs ------------------------------------------------------------------------------------


def test_a_config_mixing_labels_and_choices_serves_the_first_and_reports_the_rest() -> None:
    xml = SPANS_XML.replace("</View>", '<Choices name="sent" toName="text"><Choice value="a"/>'
                                       '<Choice value="b"/></Choices></View>')
    schema = parse_label_config(xml)
    assert schema.task_type == "text_spans" and schema.other_controls == ("Choices:sent",)


def test_several_labels_controls_on_one_text_are_served_together() -> None:
    xml = """<View><Text name="text" value="$t"/>
    <Labels name="people" toName="text"><Label value="PER"/></Labels>
    <Labels name="places" toName="text"><Label value="LOC"/></Labels></View>"""
    schema = parse_label_config(xml)
    assert schema.controls == ["people", "places"] and schema.other_controls == ()
    text = "Ann in Rome"
    result = build_result(schema, (Span(0, 3, "PER"), Span(7, 11, "LOC")), text=text)
    assert [r["from_name"] for r in result] == ["people", "places"]
    assert read_label(schema, result, text=text) == (Span(0, 3, "PER"), Span(7, 11, "LOC"))
    moved = copy.deepcopy(result)
    moved[1]["from_name"] = "people"  # LOC is not a label of "people"
    with pytest.raises(InvalidInput, match="outside"):
        validate_result(schema, moved, text=text)


@pytest.mark.parametrize("xml,why", [
    (('<View><Video name="v" value="$clip"/><VideoRectangle name="b" toName="v"/></View>'),
     "VideoRectangle 'b' on Video: video boxes are not served yet"),
    (('<View><Image name="i" value="$img"/><RectangleLabels name="b" toName="i">'
      '<Label value="a"/></RectangleLabels></View>'),
     "RectangleLabels 'b' on Image: bounding boxes are not served yet"),
    (('<View><Text name="t" value="$x"/><Choices name="c" toName="t"><Choice value="a"/>'
     '</Choices></View>'), "fewer than 2"),
    ('<View><Text name="t" value="$x"/></View>', "no control"),
    (('<View><Image name="i" value="$img"/><Labels name="l" toName="i"><Label value="a"/>'
     '</Labels></View>'), "Labels 'l' on Image"),
])
def test_configs_no_task_type_serves_say_why(xml: str, why: str) -> None:
    schema = parse_label_config(xml)
    assert not schema.supported and schema.reason is not None and why in schema.reason


def test_choices_on_video_are_served() -> None:
    schema = parse_label_config('<View><Video name="v" value="$clip"/><Choices name="c" '
                                'toName="v"><Choice value="a"/><Choice value="b"/></Choices>'
                                '</View>')
    assert schema.supported and schema.reason is None and schema.modality == "video"
    assert (schema.task_type, schema.data_key, schema.to_name) == ("text_classification",
                                                                   "clip", "v")
