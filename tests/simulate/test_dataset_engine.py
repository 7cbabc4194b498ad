"""The dataset objective of the simulator: dataset accuracy per human label, the product's own
estimate and its interval's coverage, on gaussian classes with the realistic simulated LLM."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from tests.simulate.test_realistic_llm import gaussian_classes

from labelloop.errors import InvalidInput
from labelloop.simulate import (
    DatasetCurve,
    DatasetSimulationConfig,
    DatasetStrategy,
    run_dataset_simulation,
    to_json,
)
from labelloop.simulate.dataset_engine import dataset_state, fraction_points, run_dataset_loop
from labelloop.simulate.realistic_llm import SimulatedLlm, realistic_llm
from labelloop.simulate.report import markdown_table


@cache
def _pool(n: int = 800, seed: int = 0, accuracy: float = 0.8) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, SimulatedLlm]:
    x, y = gaussian_classes(n + 200, seed=seed)
    llm = realistic_llm(x[:n], y[:n], n_classes=3, accuracy=accuracy,
                        rng=np.random.default_rng(seed))
    return x[:n], y[:n], x[n:], y[n:], llm


LABELS = ["a", "b", "c"]


def test_fraction_points() -> None:
    assert fraction_points(1000, (0.05, 0.1, 0.2, 0.3)) == [50, 100, 200, 300]
    assert fraction_points(10, (0.01, 0.3, 0.3)) == [1, 3]
    with pytest.raises(InvalidInput):
        fraction_points(100, (0.0,))


def test_dataset_state_keeps_gold_where_reviewed_and_holds_the_audit_out() -> None:
    _, y, _, _, llm = _pool()
    n = y.size
    reviewed = np.zeros(n, dtype=bool)
    reviewed[:200] = True
    audit = np.zeros(n, dtype=bool)
    audit[180:200] = True
    a, lab = dataset_state(y, reviewed, audit, llm.probas, None, labels=LABELS,
                           rng=np.random.default_rng(0))
    assert np.array_equal(lab.label[:200], y[:200])
    assert np.all(lab.p_correct[:200] == 1.0)
    assert np.all(lab.label[200:] >= 0)
    # the audited tasks carry the machines' label, measured on them as on unseen tasks
    assert np.all(lab.machine[180:200] >= 0)
    assert a.audit.sum() == 20


def test_one_loop_reviews_exactly_the_budget_points() -> None:
    x, y, xt, yt, llm = _pool()
    config = DatasetSimulationConfig(fractions=(0.05, 0.1, 0.25), batch_size=15, seeds=1)
    curve = run_dataset_loop(x, y, xt, yt, labels=LABELS, strategy="dataset", seed=0,
                             config=config, llm_probas=llm.probas)
    assert curve.labels == [40, 80, 200]
    acc = np.asarray(curve.dataset_accuracy[0])
    assert acc.shape == (3,)
    # the dataset only improves as reviewed tasks turn gold: it never drops below LLM alone
    llm_alone = float(np.mean(llm.labels == y))
    assert acc[-1] > llm_alone + 0.1
    for est, (lo, hi) in zip(curve.estimated_accuracy[0], curve.estimated_interval[0]):
        assert 0.0 <= lo <= est <= hi <= 1.0


def test_strategies_aimed_at_errors_beat_random() -> None:
    x, y, xt, yt, llm = _pool()
    config = DatasetSimulationConfig(strategies=("random", "llm_confidence", "dataset"),
                                     fractions=(0.1, 0.2), batch_size=40, seeds=2)
    result = run_dataset_simulation(x, y, xt, yt, labels=LABELS, llm_probas=llm.probas,
                                    config=config)
    mean = {name: np.mean(c.dataset_accuracy, axis=0)  # type: ignore[attr-defined]
            for name, c in result.curves.items()}
    assert np.all(mean["llm_confidence"] >= mean["random"]), mean
    # the dataset objective can trail random early: its p_correct is fitted on the tasks it
    # sent to review, the machines' worst, and ranks the rest less well until more arrive
    for name in ("llm_confidence", "dataset"):
        assert mean[name][-1] > mean["random"][-1] + 0.03, (name, mean)
    assert result.llm_train_accuracy == pytest.approx(0.8, abs=0.01)
    assert result.config.budget == 160


def test_results_json_keeps_its_keys_and_adds_the_dataset_ones() -> None:
    x, y, xt, yt, llm = _pool()
    config = DatasetSimulationConfig(strategies=("random", "default"), fractions=(0.1, 0.2),
                                     batch_size=40, seeds=2)
    result = run_dataset_simulation(x, y, xt, yt, labels=LABELS, llm_probas=llm.probas,
                                    config=config)
    doc = to_json(result, data="blobs")
    for key in ("data", "n_train", "n_test", "batch_size", "full_pool_accuracy", "strategies",
                "full_pool_macro_f1", "budget", "seeds", "class_labels", "llm", "notes"):
        assert key in doc
    for name in ("random", "default"):
        s = doc["strategies"][name]
        for key in ("labels", "accuracy", "macro_f1", "labels_to_95pct", "ratio_to_random"):
            assert key in s
        assert np.asarray(s["dataset_accuracy"]).shape == (2, 2)
        assert np.asarray(s["estimated_accuracy"]).shape == (2, 2)
        assert np.asarray(s["estimated_interval"]).shape == (2, 2, 2)
        assert 0.0 <= s["interval_coverage"] <= 1.0
        assert np.asarray(s["difference_interval"]).shape == (2, 2, 2)
        assert 0.0 <= s["difference_coverage"] <= 1.0
    assert doc["strategies"]["random"]["error_batches"] == [0, 0]
    table = markdown_table(result)
    assert "random dataset acc" in table and "interval coverage" in table


def test_needs_the_llm_and_known_strategies() -> None:
    x, y, xt, yt, llm = _pool()
    with pytest.raises(InvalidInput):
        run_dataset_simulation(x, y, xt, yt, labels=LABELS, llm_probas=llm.probas[:10])
    with pytest.raises(InvalidInput):
        run_dataset_simulation(x, y, xt, yt, labels=LABELS, llm_probas=llm.probas,
                               config=DatasetSimulationConfig(strategies=("best",)))  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["random", "dataset", "llm_confidence"])
def test_interval_covers_the_true_dataset_accuracy(strategy: DatasetStrategy) -> None:
    """Over many seeds the product's 95 % interval holds the true dataset accuracy at least 90 %
    of the time, and is not trivially wide. One batch of 180 reviews per seed, a fifth of them
    the uniform audit (36 tasks: the product's 5 % gives intervals too wide to test on a pool
    this small). Random review is the regime the audit's sampling assumes; review aimed at
    machine errors leaves the easy tasks unreviewed, which the plain audit rate understated
    (coverage 0.78-0.81 in docs/benchmarks.md) until the card post-stratified it by p_correct
    (quality/stratified.py)."""
    x, y, xt, yt, llm = _pool(n=600, seed=3)
    config = DatasetSimulationConfig(fractions=(0.3,), batch_size=180, seeds=1,
                                     audit_fraction=0.2)
    curves: list[DatasetCurve] = [
        run_dataset_loop(x, y, xt, yt, labels=LABELS, strategy=strategy, seed=seed,
                         config=config, llm_probas=llm.probas) for seed in range(40)]
    hits = [lo <= a <= hi for c in curves for a, (lo, hi) in
            zip(c.dataset_accuracy[0], c.estimated_interval[0])]
    widths = [hi - lo for c in curves for lo, hi in c.estimated_interval[0]]
    print(f"{strategy}: coverage {np.mean(hits):.3f}, mean width {np.mean(widths):.3f}")
    assert np.mean(hits) >= 0.9
    assert np.mean(widths) < 0.25
