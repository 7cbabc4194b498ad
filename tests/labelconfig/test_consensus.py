"""The one consensus rule (labelconfig/consensus.py): its cases, on votes and on annotations."""

from __future__ import annotations

from collections import Counter

from labelloop.labelconfig.consensus import (
    Consensus,
    Vote,
    annotation_votes,
    consensus,
    human_label,
)
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelconfig.spans import Span
from labelloop.storage.records import Annotation

CHOICES = parse_label_config("""<View><Text name="text" value="$text"/>
<Choices name="c" toName="text"><Choice value="A"/><Choice value="B"/><Choice value="C"/>
</Choices></View>""")
SPANS = parse_label_config("""<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels></View>""")
TEXT = "Ann lives in Rome"


def vote(label: str, annotator: int | None, t: int, *, gt: bool = False) -> Vote[str]:
    return Vote(label, annotator, gt, (f"2026-01-01T00:00:{t:02d}", t))


def test_no_votes_no_consensus() -> None:
    assert consensus([]) is None


def test_one_vote_is_its_own_consensus() -> None:
    assert consensus([vote("A", 1, 1)]) == Consensus("A", 1, 1, False)


def test_one_vote_per_annotator_their_latest() -> None:
    # annotator 1 changed their mind (A then B); annotator 2 said A: one vote each, a tie
    # between B (annotator 1, t=3) and A (annotator 2, t=2): the most recent vote wins
    got = consensus([vote("A", 1, 1), vote("A", 2, 2), vote("B", 1, 3)])
    assert got == Consensus("B", 1, 2, True)


def test_the_latest_is_by_updated_at_then_id_not_by_list_order() -> None:
    got = consensus([vote("B", 1, 5), vote("A", 1, 1)])
    assert got is not None and got.label == "B" and got.voters == 1


def test_annotations_without_annotator_vote_each_on_their_own() -> None:
    got = consensus([vote("A", None, 1), vote("A", None, 2), vote("B", 3, 3)])
    assert got == Consensus("A", 2, 3, False)


def test_ground_truth_first() -> None:
    votes = [vote("A", 1, 1), vote("A", 2, 2), vote("B", 3, 3, gt=True)]
    assert consensus(votes) == Consensus("B", 1, 1, False)


def test_several_ground_truths_vote_among_themselves() -> None:
    votes = [vote("A", 1, 1, gt=True), vote("B", 2, 2, gt=True), vote("B", 3, 3, gt=True),
             vote("A", 4, 4), vote("A", 5, 5)]
    assert consensus(votes) == Consensus("B", 2, 3, False)


def test_plurality_wins_over_recency() -> None:
    votes = [vote("A", 1, 1), vote("A", 2, 2), vote("B", 3, 3), vote("C", 4, 4)]
    assert consensus(votes) == Consensus("A", 2, 4, False)


def test_a_tie_goes_to_the_tied_label_voted_most_recently() -> None:
    votes = [vote("A", 1, 1), vote("B", 2, 2), vote("B", 3, 3), vote("A", 4, 4),
             vote("C", 5, 9)]
    assert consensus(votes) == Consensus("A", 2, 5, True)  # C is latest but not tied


def test_the_rule_does_not_depend_on_the_order_votes_are_given_in() -> None:
    votes = [vote("A", 1, 1), vote("B", 2, 2), vote("B", 3, 3), vote("A", 4, 4)]
    assert consensus(votes) == consensus(list(reversed(votes)))


# --- from annotations ---------------------------------------------------------------------------


def ann(aid: int, annotator: int | None, result: list[dict[str, object]], *, t: int | None = None,
        cancelled: bool = False, gt: bool = False, deleted: bool = False) -> Annotation:
    return Annotation(aid, 1, 1, annotator, result, cancelled, gt, None,
                      None if t is None else f"2026-01-01T00:00:{t:02d}", deleted)


def choice(*labels: str) -> list[dict[str, object]]:
    return [{"from_name": "c", "to_name": "text", "type": "choices",
             "value": {"choices": list(labels)}}]


def spans(*found: tuple[int, int, str]) -> list[dict[str, object]]:
    return [{"from_name": "ner", "to_name": "text", "type": "labels",
             "value": {"start": s, "end": e, "text": TEXT[s:e], "labels": [label]}}
            for s, e, label in found]


def test_cancelled_and_unusable_annotations_do_not_vote_but_the_task_is_reviewed() -> None:
    anns = [ann(1, 1, [], cancelled=True, t=1), ann(2, 2, choice("Z"), t=2),
            ann(3, 3, choice("A", "B"), t=3), ann(4, 4, [], t=4)]
    tv = annotation_votes(CHOICES, anns, text=None)
    assert tv.votes == () and tv.reviewed
    assert tv.skipped == Counter({"cancelled_annotation": 1, "annotation_label_not_in_config": 1,
                                  "annotation_several_choices_in_single_choice": 1,
                                  "annotation_without_label": 1})
    assert human_label(CHOICES, anns, text=None) == (None, True)


def test_a_cancelled_annotation_does_not_outvote_the_annotators_earlier_label() -> None:
    anns = [ann(1, 1, choice("A"), t=1), ann(2, 1, [], cancelled=True, t=2)]
    got, reviewed = human_label(CHOICES, anns, text=None)
    assert reviewed and got is not None and got.label == ("A",)


def test_deleted_annotations_are_ignored_entirely() -> None:
    assert human_label(CHOICES, [ann(1, 1, choice("A"), deleted=True)], text=None) == (None, False)
    assert human_label(CHOICES, [], text=None) == (None, False)


def test_annotation_ties_and_ground_truth_through_the_layer() -> None:
    two = [ann(5, 1, choice("B"), t=1), ann(6, 2, choice("A"), t=2)]
    got, _ = human_label(CHOICES, two, text=None)
    assert got == Consensus(("A",), 1, 2, True)
    # without updated_at (older stores), the annotation id orders them
    undated = [ann(9, 1, choice("B")), ann(6, 2, choice("A"))]
    got, _ = human_label(CHOICES, undated, text=None)
    assert got is not None and got.label == ("B",)
    with_gt = [*two, ann(7, 3, choice("C"), t=0, gt=True)]
    got, _ = human_label(CHOICES, with_gt, text=None)
    assert got == Consensus(("C",), 1, 1, False)


def test_spans_vote_as_whole_sets() -> None:
    a = spans((0, 3, "PER"), (13, 17, "LOC"))
    b = spans((0, 3, "PER"))  # agrees on Ann, misses Rome: a different label as a whole
    anns = [ann(1, 1, a, t=1), ann(2, 2, b, t=2), ann(3, 3, list(reversed(a)), t=3)]
    got, reviewed = human_label(SPANS, anns, text=TEXT)
    assert reviewed
    assert got == Consensus((Span(0, 3, "PER"), Span(13, 17, "LOC")), 2, 3, False)


def test_no_entities_is_a_vote_like_any_other() -> None:
    anns = [ann(1, 1, [], t=1), ann(2, 2, [], t=2), ann(3, 3, spans((0, 3, "PER")), t=3)]
    got, _ = human_label(SPANS, anns, text=TEXT)
    assert got == Consensus((), 2, 3, False)


def test_a_span_annotation_the_text_does_not_hold_does_not_vote() -> None:
    bad = [{"from_name": "ner", "to_name": "text", "type": "labels",
            "value": {"start": 0, "end": 99, "labels": ["PER"]}}]
    tv = annotation_votes(SPANS, [ann(1, 1, bad, t=1), ann(2, 2, spans((0, 3, "PER")), t=2)],
                          text=TEXT)
    assert [v.label for v in tv.votes] == [(Span(0, 3, "PER"),)]
    assert tv.skipped == Counter({"annotation_invalid_span": 1})
    assert annotation_votes(SPANS, [ann(1, 1, [], t=1)], text=None).skipped == \
        Counter({"annotation_task_without_text": 1})
