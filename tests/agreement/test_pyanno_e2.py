"""Cross-checks on real multi-annotator data: pyAnno's ``e-2.txt`` (see data/README.md).

A strided slice is in the repository; the whole file (15,521 items x 8 annotators) is checked as
well when ``LABELLOOP_PYANNO_SDIST`` points at ``pyanno-2.0.2.tar.gz``.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

from labelloop.agreement import (
    annotator_vs_consensus,
    class_counts,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    percent_agreement,
    quality_report,
)

SLICE = Path(__file__).parent / "data" / "pyanno_e2_every25th.txt"


def _parse(text: str) -> np.ndarray:
    rows = [[int(v) for v in line.replace(",", " ").split()] for line in text.splitlines()]
    raw = np.array([r for r in rows if r], dtype=float)
    return np.where(raw < 0, np.nan, raw - 1)  # labels 1..5 -> class indices 0..4


def _full() -> np.ndarray:
    sdist = os.environ.get("LABELLOOP_PYANNO_SDIST")
    if not sdist or not Path(sdist).is_file():
        pytest.skip("set LABELLOOP_PYANNO_SDIST to pyanno-2.0.2.tar.gz to check the whole e-2")
    with tarfile.open(sdist) as tar:
        member = tar.extractfile("pyanno-2.0.2/data/e-2.txt")
        if member is None:
            pytest.fail("e-2.txt missing from the sdist")
        return _parse(member.read().decode())


@pytest.fixture(scope="module", params=["slice", "full"])
def e2(request: pytest.FixtureRequest) -> np.ndarray:
    return _parse(SLICE.read_text()) if request.param == "slice" else _full()


def _alpha_by_coincidence_matrix(m: np.ndarray) -> float:
    """Nominal alpha from Krippendorff's coincidence matrix, written out independently."""
    counts = class_counts(m, 5).astype(float)
    per_unit = counts.sum(axis=1)
    counts, per_unit = counts[per_unit >= 2], per_unit[per_unit >= 2]
    pair_counts = counts[:, :, None] * counts[:, None, :]
    pair_counts -= np.einsum("uc,ck->uck", counts, np.eye(5))
    coincidence = (pair_counts / (per_unit - 1)[:, None, None]).sum(axis=0)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    off = ~np.eye(5, dtype=bool)
    return 1 - (n - 1) * coincidence[off].sum() / np.outer(n_c, n_c)[off].sum()


def test_shape_and_design(e2: np.ndarray) -> None:
    assert e2.shape[1] == 8
    assert np.all((~np.isnan(e2)).sum(axis=1) == 3)  # three annotators per item
    assert set(np.unique(e2[~np.isnan(e2)])) == {0, 1, 2, 3, 4}


def test_krippendorff_alpha_matches_the_package_and_the_coincidence_matrix(e2: np.ndarray) -> None:
    ours = krippendorff_alpha(e2)
    package = krippendorff.alpha(reliability_data=e2.T, level_of_measurement="nominal")
    assert ours == pytest.approx(package, abs=1e-10)
    assert ours == pytest.approx(_alpha_by_coincidence_matrix(e2), abs=1e-10)
    assert 0.3 < ours < 0.5  # the whole file gives 0.39995


def test_fleiss_matches_statsmodels_on_the_complete_design(e2: np.ndarray) -> None:
    labels = e2[~np.isnan(e2)].reshape(-1, 3).astype(int)  # each row's three labels
    table, _ = inter_rater.aggregate_raters(labels, n_cat=5)
    assert fleiss_kappa(e2) == pytest.approx(inter_rater.fleiss_kappa(table), abs=1e-12)
    pairs_agreeing = (table * (table - 1)).sum(axis=1) / 6
    assert percent_agreement(e2) == pytest.approx(pairs_agreeing.mean(), abs=1e-12)


def test_pairwise_kappa_matches_sklearn_per_pair(e2: np.ndarray) -> None:
    for pair in pairwise_cohen_kappa(e2, min_overlap=20):
        a, b = pair["a"], pair["b"]
        both = ~np.isnan(e2[:, a]) & ~np.isnan(e2[:, b])
        assert pair["n"] == both.sum()
        assert pair["kappa"] == pytest.approx(
            cohen_kappa_score(e2[both, a], e2[both, b]), abs=1e-12
        )


def test_per_annotator_and_report_on_real_data(e2: np.ndarray) -> None:
    rows = annotator_vs_consensus(e2)
    assert [r["n_items"] for r in rows] == list((~np.isnan(e2)).sum(axis=0))
    assert all(r["n"] + r["ties"] <= r["n_items"] for r in rows)
    report = quality_report(e2, labels=["1", "2", "3", "4", "5"])
    assert report["fleiss_subset"] == {"n_tasks": e2.shape[0], "n_raters": 3}
    assert report["notes"] == []
