"""A span project's queue head: each task's text with its pre-label spans marked, as escaped HTML
(the pieces between span boundaries escaped, overlapping spans one <mark> per piece)."""

from __future__ import annotations

from html.parser import HTMLParser

from labelloop.dashboard.data import queue_head
from labelloop.dashboard.spans import highlight
from labelloop.labelconfig.schema import parse_label_config
from labelloop.labelconfig.spans import Span
from labelloop.storage.base import Storage
from labelloop.storage.sql_queue import QueueEntry
from tests.predict.spans_seed import EMOJI, NER_CONFIG, TEXTS, seed_ner, where


class Marks(HTMLParser):
    """The text and the marked pieces of a highlighted snippet, read by a real HTML parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text, self.marks, self.tags = "", [], []
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "mark":
            self._label = dict(attrs)["data-label"]

    def handle_endtag(self, tag: str) -> None:
        self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self.marks.append((len(self.text), data, self._label))
        self.text += data


def parse(snippet: str) -> Marks:
    m = Marks()
    m.feed(snippet)
    m.close()
    return m


def test_highlight_escapes_the_text_and_marks_each_span() -> None:
    text = 'Bob <b onclick="x">Eve</b> & "Ann" met in Rome.'
    spans = [Span(*where(text, "Bob"), "PER"), Span(*where(text, "Eve"), 'P"ER<'),
             Span(*where(text, "Rome"), "LOC")]
    got = parse(highlight(text, spans))
    assert got.text == text  # the page reads exactly the task's text
    assert got.tags == ["mark", "mark", "mark"]  # no <b> from the text, ever
    assert got.marks == [(0, "Bob", "PER"), (where(text, "Eve")[0], "Eve", 'P"ER<'),
                         (where(text, "Rome")[0], "Rome", "LOC")]


def test_highlight_overlapping_spans_emoji_and_a_cut() -> None:
    spans = [Span(*where(EMOJI, "Anna flew"), "PER"), Span(*where(EMOJI, "flew to Paris"), "LOC")]
    got = parse(highlight(EMOJI, spans))
    assert got.text == EMOJI
    assert [(t, lab) for _, t, lab in got.marks] == [("Anna ", "PER"), ("flew", "LOC + PER"),
                                                     (" to Paris", "LOC")]
    cut = parse(highlight(EMOJI, spans, limit=9))
    assert cut.text == EMOJI[:9] + "…"
    assert [(t, lab) for _, t, lab in cut.marks] == [("Anna ", "PER"), ("fl", "LOC + PER")]


def test_queue_head_of_a_span_project_carries_the_prelabel_spans(storage: Storage) -> None:
    seed_ner(storage)
    with storage.write() as tx:
        tx.save_queue([QueueEntry(1, "q1", tid, r, r / 10, "uncertainty")
                       for r, tid in enumerate(TEXTS)])
    schema = parse_label_config(NER_CONFIG)
    with storage.read() as tx:
        head = {e["task_id"]: e for e in queue_head(tx, 1, "q1", "text", schema=schema)["head"]}
        plain = queue_head(tx, 1, "q1", "text")["head"]
    assert head[1]["prelabel"] == "llm"
    assert [(s["start"], s["end"], s["text"], s["label"]) for s in head[1]["spans"]] == [
        (*where(EMOJI, "Anna"), "Anna", "PER"), (*where(EMOJI, "Paris"), "Paris", "LOC"),
        (*where(EMOJI, "Acme"), "Acme", "ORG")]
    assert [(t, lab) for _, t, lab in parse(head[1]["highlighted"]).marks] == [
        ("Anna", "PER"), ("Paris", "LOC"), ("Acme", "ORG")]
    # task 2: the LLM's span past the text is not shown; the model's pre-label is
    assert head[2]["prelabel"] == "model" and parse(head[2]["highlighted"]).text == TEXTS[2]
    assert [(t, lab) for _, t, lab in parse(head[2]["highlighted"]).marks] == [("Rome", "LOC")]
    assert head[4]["prelabel"] is None and head[4]["spans"] == []  # its region lies: nothing
    assert head[6]["highlighted"] == "Ann &amp; Bo &lt;3 Paris."
    assert all("highlighted" not in e for e in plain)  # without the schema: as before
