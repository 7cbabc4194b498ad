"""Reliability curve and expected calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.agreement import InsufficientData, expected_calibration_error, reliability_curve
from labelloop.errors import InvalidInput


def test_hand_computed_ece() -> None:
    conf = [0.9, 0.8, 0.6, 0.7]
    hit = [True, True, False, True]
    # One item per bin: |1-.9| + |1-.8| + |0-.6| + |1-.7| = 1.2, over 4 items.
    assert expected_calibration_error(conf, hit) == pytest.approx(0.3)
    assert expected_calibration_error(conf, hit, n_bins=1) == pytest.approx(abs(0.75 - 0.75))


def test_reliability_curve_has_every_bin() -> None:
    bins = reliability_curve([0.05, 0.1, 0.15, 1.0], [1, 0, 0, 1], n_bins=4)
    assert [(b["lower"], b["upper"], b["n"]) for b in bins] == [
        (0.0, 0.25, 3),
        (0.25, 0.5, 0),
        (0.5, 0.75, 0),
        (0.75, 1.0, 1),  # 1.0 falls in the last bin
    ]
    assert bins[0]["confidence"] == pytest.approx(0.1) and bins[0]["accuracy"] == pytest.approx(
        1 / 3
    )
    assert np.isnan(bins[1]["confidence"]) and np.isnan(bins[1]["accuracy"])


def test_calibrated_model_has_small_ece_overconfident_has_its_gap() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, 20_000)
    hit = rng.random(conf.size) < conf
    assert expected_calibration_error(conf, hit) < 0.02
    over = rng.random(conf.size) < conf - 0.2  # right 20 points less often than it claims
    assert expected_calibration_error(conf, over) == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize(
    ("conf", "hit", "error"),
    [
        ([0.5, np.nan], [1, 0], InvalidInput),
        ([0.5, 1.2], [1, 0], InvalidInput),
        ([0.5], [1, 0], InvalidInput),
        ([0.5], [2], InvalidInput),
        ([], [], InsufficientData),
    ],
)
def test_bad_input(conf: list, hit: list, error: type[Exception]) -> None:
    with pytest.raises(error):
        expected_calibration_error(conf, hit)
    with pytest.raises(InvalidInput, match="n_bins"):
        reliability_curve([0.5], [1], n_bins=0)
