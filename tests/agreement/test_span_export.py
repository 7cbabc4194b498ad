"""Reading the span (Labels) controls of Label Studio JSON exports."""

from __future__ import annotations

from typing import Any

from labelloop.agreement.span_export import consensus_spans, read_span_export
from labelloop.labelconfig.spans import Span

TEXT = "Barack Obama visited Paris with Michelle."


def span(start: int, end: int, *labels: str, name: str = "label", **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"start": start, "end": end, "labels": list(labels)}
    ints = isinstance(start, int) and isinstance(end, int)
    if extra.pop("with_text", True) and ints and 0 <= start < end <= len(TEXT):
        value["text"] = TEXT[start:end]
    return {"from_name": name, "to_name": "text", "type": "labels", "value": value, **extra}


def ann(who: Any, *regions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"completed_by": who, "was_cancelled": False, "result": list(regions), **extra}


def test_reads_spans_per_annotator_with_empty_sets_and_predictions() -> None:
    tasks = [
        {"id": 10, "data": {"text": TEXT}, "annotations": [
            ann(1, span(0, 12, "PER"), span(21, 26, "LOC")),
            ann({"id": 2, "email": "b@x"}, span(0, 12, "PER")),
        ], "predictions": [{"model_version": "llm-1", "result": [span(0, 12, "PER", score=0.9)]}]},
        {"id": 11, "data": {"text": "nothing"}, "annotations": [ann(2)],
         "predictions": [{"model_version": "llm-1", "result": []}]},
        {"id": 12, "data": {"text": "no annotations"}, "annotations": []},
    ]  # fmt: skip
    data = read_span_export(tasks)
    assert list(data.controls) == ["label"] and data.offset_unit == "code_points"
    c = data.controls["label"]
    assert c.task_ids == (10, 11) and c.annotators == (1, 2)
    assert c.texts == (TEXT, "nothing")
    assert c.annotations[0] == {
        0: {Span(0, 12, "PER"), Span(21, 26, "LOC")},
        1: {Span(0, 12, "PER")},
    }
    assert c.annotations[1] == {1: frozenset()}  # "no entities" is a label
    assert c.labels == ("LOC", "PER")
    assert c.models == {"llm-1": ({Span(0, 12, "PER")}, frozenset())}
    assert c.skipped == {"tasks_without_annotations": 1}


def test_malformed_regions_are_skipped_and_counted_never_a_crash() -> None:
    regions = [
        span(0, 12, "PER"),
        span(12, 0, "PER"),  # end before start
        span(-3, 2, "PER"),
        span(0, 500, "PER"),  # past the text
        {**span(0, 6, "PER"), "value": {"start": 0, "end": 6, "text": "Joe Bi", "labels": ["PER"]}},
        span(0, 6),  # no label
        span(0, "6", "PER"),  # type: ignore[arg-type]
        {"from_name": "label", "type": "labels", "value": "oops"},
        {"type": "labels", "value": {"start": 0, "end": 1, "labels": ["PER"]}},  # no from_name
        "junk",
        {"from_name": "sentiment", "type": "choices", "value": {"choices": ["x"]}},
    ]
    tasks = [
        {"id": 1, "data": {"text": TEXT}, "annotations": [
            ann(1, *regions), ann(2, span(0, 12, "PER")), ann(None, span(0, 12, "PER")),
            {"completed_by": 3, "was_cancelled": True, "result": [span(0, 12, "PER")]},
            "junk", {"completed_by": 4, "result": {"not": "a list"}},
        ], "predictions": [7, "junk", {"result": [span(0, 12, "PER")]}]},
        "not a task",
        {"id": 3, "annotations": {"oops": 1}},
    ]  # fmt: skip
    data = read_span_export(tasks)
    c = data.controls["label"]
    assert c.annotations == ({0: {Span(0, 12, "PER")}, 1: {Span(0, 12, "PER")}},)
    assert data.skipped == {
        "annotation_not_object": 1,
        "annotation_without_annotator": 1,
        "annotation_without_result": 1,
        "cancelled_annotation": 1,
        "malformed_labels_region": 2,
        "prediction_id_only": 1,
        "prediction_malformed": 1,
        "span_bad_offsets": 3,
        "span_off_text": 2,
        "span_without_labels": 1,
        "task_malformed": 1,
        "task_not_object": 1,
    }
    assert c.models == {"(no model_version)": ({Span(0, 12, "PER")},)}


def test_several_labels_and_controls_and_a_choices_only_prediction() -> None:
    tasks = [
        {"id": 1, "data": {"text": TEXT}, "annotations": [
            ann(1, span(0, 12, "PER", "VIP"), span(21, 26, "CITY", name="place"),
                {"from_name": "sentiment", "type": "choices", "value": {"choices": ["pos"]}}),
        ], "predictions": [
            {"model_version": "clf", "result": [
                {"from_name": "sentiment", "type": "choices", "value": {"choices": ["pos"]}}]},
            {"model_version": "ner", "result": [span(0, 12, "PER")]},
        ]},
    ]  # fmt: skip
    data = read_span_export(tasks)
    assert sorted(data.controls) == ["label", "place"]
    assert data.controls["label"].annotations[0] == {0: {Span(0, 12, "PER"), Span(0, 12, "VIP")}}
    assert data.controls["place"].annotations[0] == {0: {Span(21, 26, "CITY")}}
    # the Choices-only prediction says nothing about spans; "ner" predicts no place
    assert data.controls["label"].models == {"ner": ({Span(0, 12, "PER")},)}
    assert data.controls["place"].models == {"ner": (frozenset(),)}


def test_utf16_offsets_are_read_onto_code_points() -> None:
    text = "café 😀 Paris and 😀 Rome"
    assert text[7:12] == "Paris" and text[19:23] == "Rome"
    r1 = {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 8, "end": 13, "text": "Paris", "labels": ["LOC"]},
    }
    r2 = {
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 21, "end": 25, "labels": ["LOC"]},
    }  # no text: the export's unit
    tasks = [{"id": 1, "data": {"text": text}, "annotations": [ann(1, r1), ann(2, r1, r2)]}]  # fmt: skip
    data = read_span_export(tasks)
    assert data.offset_unit == "utf16"
    c = data.controls["label"]
    assert c.annotations[0][1] == {Span(7, 12, "LOC"), Span(19, 23, "LOC")}


def test_consensus_plurality_of_whole_sets_ties_to_the_latest() -> None:
    a = frozenset({Span(0, 1, "X")})
    b = frozenset({Span(0, 2, "X")})
    assert consensus_spans([(("2024-01-01", 1, 0), False, a), (("2024-01-02", 2, 1), False, b)]) \
        == (b, True)  # fmt: skip
    assert consensus_spans([(("2024-01-03", 1, 0), False, a), (("2024-01-02", 2, 1), False, b),
                            (("2024-01-01", 3, 2), False, b)]) == (b, False)  # fmt: skip
    # ground truth alone votes when there is one
    assert consensus_spans([(("", 1, 0), True, a), (("", 2, 1), False, b),
                            (("", 3, 2), False, b)]) == (a, False)  # fmt: skip
    assert consensus_spans([]) is None


def test_one_vote_per_annotator_their_latest() -> None:
    tasks = [{"id": 1, "data": {"text": TEXT}, "annotations": [
        ann(1, span(0, 6, "PER"), id=5, updated_at="2024-05-02T10:00:00Z"),
        ann(1, span(0, 12, "PER"), id=4, updated_at="2024-05-01T10:00:00Z"),
        ann(2, span(0, 12, "PER"), id=6, updated_at="2024-05-01T09:00:00Z"),
        ann(3, span(0, 6, "PER"), id=7, updated_at="2024-05-01T08:00:00Z"),
    ]}]  # fmt: skip
    c = read_span_export(tasks).controls["label"]
    assert c.annotations[0][0] == {Span(0, 6, "PER")}  # the later of annotator 1's two
    assert c.skipped == {"duplicate_annotation": 1}
    # 0-6 has two votes (annotators 1 and 3), 0-12 one: no tie
    assert c.consensus == ({Span(0, 6, "PER")},) and c.consensus_ties == 0
