"""The simulator on span data: reading span JSONL, the loop with the CRF token model, scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.simulate.span_corpus import span_corpus

from labelloop.agreement.spans import span_prf
from labelloop.labelconfig.spans import Span, validate_spans
from labelloop.models.tokens import TokenPrediction
from labelloop.simulate import (
    SpanSimulationConfig,
    is_span_file,
    load_span_jsonl,
    markdown_table,
    span_train_test_split,
    to_json,
)
from labelloop.simulate.data import InvalidDataFile
from labelloop.simulate.span_engine import (
    count_invalid,
    run_span_loop,
    run_span_simulation,
    score_spans,
)
from labelloop.simulate.synthetic import noisy_llm_spans, span_hardness

LABELS = ["LOC", "ORG", "PER"]


def _rows(texts: list[str], spans: list[list[Span]]) -> list[dict[str, object]]:
    return [{"text": t, "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in f]}
            for t, f in zip(texts, spans)]


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


Corpus = tuple[list[str], list[list[Span]], list[str], list[list[Span]], np.ndarray]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    texts, spans = span_corpus(160, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 12)).astype(np.float32)  # stand-in sentence embeddings
    return texts[:120], spans[:120], texts[120:], spans[120:], x


# --- reading --------------------------------------------------------------------------------

def test_load_span_jsonl_round_trips_the_corpus(tmp_path: Path) -> None:
    texts, spans = span_corpus(30, seed=1)
    path = _write(tmp_path / "d.jsonl", _rows(texts, spans))
    data = load_span_jsonl(path)
    assert data.texts == texts and data.spans == spans
    assert data.labels == sorted({s.label for f in spans for s in f})
    assert data.is_test is None and is_span_file(path)
    for text, found in zip(data.texts, data.spans):
        for s in found:  # code points, also after an emoji or a combining mark
            assert text[s.start:s.end] in (*_surfaces(),)


def _surfaces() -> tuple[str, ...]:
    from tests.simulate.span_corpus import ORGS, PEOPLE, PLACES

    return (*PEOPLE, *PLACES, *ORGS)


def test_a_class_file_is_not_a_span_file(tmp_path: Path) -> None:
    assert not is_span_file(_write(tmp_path / "c.jsonl", [{"text": "a", "label": "x"}]))
    assert is_span_file(_write(tmp_path / "e.jsonl", [{"text": "a", "ents": []}]),
                        spans_field="ents")


@pytest.mark.parametrize("spans, match", [
    ([{"start": 0, "end": 99, "label": "PER"}], "not within"),
    ([{"start": 3, "end": 3, "label": "PER"}], "not within"),
    ([{"start": -1, "end": 2, "label": "PER"}], "not within"),
    ([{"start": 0, "end": 2.0, "label": "PER"}], "integers"),
    ([{"start": True, "end": 2, "label": "PER"}], "integers"),
    ([{"start": 0, "end": 2}], "string label"),
    ([{"start": 0, "end": 2, "label": "PER"}] * 2, "repeated"),
    ("PER", "list of spans"),
])
def test_an_invalid_span_names_the_line(tmp_path: Path, spans: object, match: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "Bob is here", "spans": [
        {"start": 0, "end": 3, "label": "PER"}]}) + "\n"
        + json.dumps({"text": "Ann is here", "spans": spans}) + "\n")
    with pytest.raises(InvalidDataFile, match=match) as info:
        load_span_jsonl(path)
    assert ":2:" in info.value.message


def test_a_file_without_any_span_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", [{"text": "a b", "spans": []}] * 3)
    with pytest.raises(InvalidDataFile, match="no spans"):
        load_span_jsonl(path)


def test_split_field_and_random_split(tmp_path: Path) -> None:
    texts, spans = span_corpus(20, seed=2)
    rows = _rows(texts, spans)
    for i, r in enumerate(rows):
        r["split"] = "test" if i < 4 else "train"
    data = load_span_jsonl(_write(tmp_path / "s.jsonl", rows))
    train, test = span_train_test_split(data, test_fraction=0.5)
    assert test.tolist() == [0, 1, 2, 3] and train.size == 16
    plain = load_span_jsonl(_write(tmp_path / "p.jsonl", _rows(texts, spans)))
    a = span_train_test_split(plain, test_fraction=0.25, seed=3)
    b = span_train_test_split(plain, test_fraction=0.25, seed=3)
    assert a[0].tolist() == b[0].tolist() and a[1].size == 5
    assert sorted([*a[0].tolist(), *a[1].tolist()]) == list(range(20))


# --- scores ---------------------------------------------------------------------------------

def test_score_spans_by_hand() -> None:
    texts = ["Bob went to Paris", "nothing here"]
    gold = [[Span(0, 3, "PER"), Span(12, 17, "LOC")], []]
    pred = [[Span(0, 3, "PER"), Span(12, 17, "PER")], []]
    s = score_spans(texts, gold, pred)
    assert s.span_f1 == pytest.approx(0.5)  # tp 1, fp 1, fn 1
    assert s.macro_f1 == pytest.approx((0.0 + 2 / 3) / 2)  # LOC: F1 0; PER: tp 1, fp 1
    assert s.token_accuracy == pytest.approx(5 / 6)  # 6 tokens, only "Paris" tagged wrong


def test_count_invalid_finds_every_kind_of_bad_span() -> None:
    text = "Bob in 🙂 Paris"
    ok = TokenPrediction((Span(0, 3, "PER"), Span(9, 14, "LOC")), (0.9, 0.8), 0.1)
    assert count_invalid([text], [ok], labels=LABELS) == 0
    bad = TokenPrediction((Span(0, 3, "PER"), Span(0, 3, "PER"), Span(9, 30, "LOC"),
                           Span(0, 3, "DATE")), (0.5,) * 4, 0.5)
    assert count_invalid([text], [bad], labels=LABELS) == 3  # repeated, past the end, label


# --- the loop ---------------------------------------------------------------------------------

def test_simulation_shapes_scores_and_no_invalid_span(corpus: Corpus) -> None:
    texts, spans, test_texts, test_spans, x = corpus
    config = SpanSimulationConfig(strategies=("random", "uncertainty", "diversity", "default"),
                                  batch_size=10, budget=40, seeds=2)
    steps: list[int] = []
    r = run_span_simulation(texts, spans, test_texts, test_spans, x, labels=LABELS,
                            config=config, step=lambda: steps.append(1))
    assert r.task == "spans" and len(steps) == 4 * 2 * 4
    assert r.full_pool_span_f1 is not None and r.full_pool_span_f1 > 0.9  # an easy corpus
    for name, curve in r.curves.items():
        f1 = np.asarray(curve.span_f1)
        assert f1.shape == (2, 4) and np.asarray(curve.accuracy).shape == (2, 4)
        assert ((f1 >= 0) & (f1 <= 1)).all()
        assert curve.invalid_spans == 0, name
        assert f1[:, -1].mean() > 0.8, name  # 40 labeled sentences learn the templates
        assert [len(p) for p in curve.picked] == [40, 40]
        assert all(len(set(p)) == 40 for p in curve.picked)
    # labels to 95 % is read off the mean span-F1 curve
    for name, curve in r.curves.items():
        mean = np.asarray(curve.span_f1).mean(axis=0)
        hit = np.flatnonzero(mean >= 0.95 * r.full_pool_span_f1)
        assert r.labels_to_target(name) == (curve.labels[hit[0]] if hit.size else None)


def test_the_loop_is_deterministic_per_seed(corpus: Corpus) -> None:
    texts, spans, test_texts, test_spans, x = corpus
    config = SpanSimulationConfig(batch_size=10, budget=30, seeds=1)
    runs = [run_span_loop(texts, spans, test_texts, test_spans, x, labels=LABELS,
                          strategy="default", seed=4, config=config) for _ in range(2)]
    assert runs[0].picked == runs[1].picked and runs[0].span_f1 == runs[1].span_f1
    other = run_span_loop(texts, spans, test_texts, test_spans, x, labels=LABELS,
                          strategy="random", seed=5, config=config)
    assert other.picked != runs[0].picked


def test_uncertainty_prefers_sentences_with_entities(corpus: Corpus) -> None:
    # after cold start, the token model is unsure about entity-bearing sentences, not about
    # "nothing much happening here": they make up far more of its picks than of random's
    texts, spans, test_texts, test_spans, x = corpus
    config = SpanSimulationConfig(batch_size=10, budget=40, seeds=1)
    share = {}
    for strategy in ("uncertainty", "random"):
        f = run_span_loop(texts, spans, test_texts, test_spans, x, labels=LABELS,
                          strategy=strategy, seed=0, config=config)
        share[strategy] = np.mean([bool(spans[i]) for i in f.picked[10:]])
    assert share["uncertainty"] > share["random"]


def test_llm_spans_drive_the_disagreement_strategy(corpus: Corpus) -> None:
    texts, spans, test_texts, test_spans, x = corpus
    # an LLM that finds every entity but calls each ORG a LOC, and gives no answer every 7th
    llm: list[list[Span] | None] = [
        None if i % 7 == 0 else [Span(s.start, s.end, "LOC" if s.label == "ORG" else s.label)
                                 for s in f] for i, f in enumerate(spans)]
    config = SpanSimulationConfig(strategies=("disagreement", "default"), batch_size=10,
                                  budget=30, seeds=1)
    r = run_span_simulation(texts, spans, test_texts, test_spans, x, labels=LABELS,
                            config=config, llm_spans=llm)
    answered = [i for i in range(len(spans)) if llm[i] is not None]
    expected = span_prf([spans[i] for i in answered], [llm[i] or [] for i in answered]).f1
    assert r.llm_train_accuracy == pytest.approx(expected)
    assert all(c.invalid_spans == 0 for c in r.curves.values())
    doc = to_json(r, data="synthetic")
    assert doc["llm"] == {"train_span_f1": pytest.approx(expected)}


def test_results_json_keeps_its_keys_and_adds_span_f1(corpus: Corpus) -> None:
    texts, spans, test_texts, test_spans, x = corpus
    config = SpanSimulationConfig(strategies=("random", "default"), batch_size=10, budget=20,
                                  seeds=2)
    r = run_span_simulation(texts, spans, test_texts, test_spans, x, labels=LABELS,
                            config=config)
    doc = to_json(r, data="d.jsonl")
    for key in ("data", "n_train", "n_test", "batch_size", "full_pool_accuracy", "strategies",
                "full_pool_macro_f1", "budget", "seeds", "class_labels", "llm",
                "committee_fallback", "notes"):
        assert key in doc
    assert doc["task"] == "spans" and doc["invalid_spans"] == 0
    for name in ("random", "default"):
        entry = doc["strategies"][name]
        for key in ("labels", "accuracy", "macro_f1", "labels_to_95pct", "ratio_to_random",
                    "mean_accuracy_auc", "span_f1"):
            assert key in entry
        assert np.asarray(entry["span_f1"]).shape == (2, 2)
        assert entry["labels_to_95pct"] == r.labels_to_target(name)
    table = markdown_table(r)
    assert "span-F1" in table and "labels to random's span-F1 at 20" in table


def test_unknown_span_strategy_is_refused(corpus: Corpus) -> None:
    from labelloop.errors import InvalidInput

    texts, spans, test_texts, test_spans, x = corpus
    with pytest.raises(InvalidInput, match="committee"):
        run_span_simulation(texts, spans, test_texts, test_spans, x, labels=LABELS,
                            config=SpanSimulationConfig(strategies=("committee",)))  # type: ignore[arg-type]


# --- the simulated LLM ------------------------------------------------------------------------

def test_span_hardness_by_hand() -> None:
    texts = ["Bob met alice", "Bob again", "Paris"]
    spans = [[Span(0, 3, "PER"), Span(8, 13, "PER")], [Span(0, 3, "PER")], [Span(0, 5, "LOC")]]
    # PER x3 and LOC x1: the median label count is 2, so LOC is rare; "alice" is lower-cased
    # and seen once; "Bob" is seen twice; "Paris" once
    assert span_hardness(texts, spans) == [[0.0, 0.75], [0.0], [0.5]]


def test_noisy_llm_spans_are_valid_and_miss_hard_spans_more() -> None:
    texts, spans = span_corpus(400, seed=5)
    lowered = [t.lower() for t in texts]  # lower-cased entities are hard
    llm = noisy_llm_spans(texts + lowered, spans + spans, labels=LABELS,
                          rng=np.random.default_rng(0), failure_rate=0.1)
    assert sum(x is None for x in llm) > 0
    for text, found in zip(texts + lowered, llm):
        if found is not None:
            validate_spans(text, found, labels=LABELS)
            assert found == sorted(set(found))
    answered = [i for i in range(800) if llm[i] is not None]
    easy = [i for i in answered if i < 400]
    hard = [i for i in answered if i >= 400]
    recall = {name: span_prf([spans[i % 400] for i in idx], [llm[i] or [] for i in idx]).recall
              for name, idx in (("easy", easy), ("hard", hard))}
    assert recall["easy"] > 0.8 and recall["hard"] < recall["easy"] - 0.15
    again = noisy_llm_spans(texts, spans, labels=LABELS, rng=np.random.default_rng(0))
    assert again == noisy_llm_spans(texts, spans, labels=LABELS, rng=np.random.default_rng(0))
