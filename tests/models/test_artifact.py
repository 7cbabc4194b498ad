"""The local model's artefact: a bit-identical, pickle-free round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from tests.selection.helpers import blobs

from labelloop.errors import InvalidInput
from labelloop.models import fit_local_model, predict_proba, train_local_model
from labelloop.models.artifact import dump_local_model, load_local_model

LABELS = ["positive", "negative", "neutral", "mixed"]


def _same(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert type(x) is type(y) and x == y, f.name


@pytest.mark.parametrize("multi", [False, True])
def test_round_trip_is_bit_identical(multi: bool) -> None:
    x, y = blobs(120, n_classes=3, dim=16, seed=1, spread=0.8)
    t = np.eye(4, dtype=np.int8)[y] if multi else y
    model = train_local_model(x, t, labels=LABELS, multi_label=multi).model
    assert model.temperature != 1.0 or multi  # calibrated: the temperature travels too
    again = load_local_model(dump_local_model(model))
    _same(model, again)
    assert np.array_equal(predict_proba(model, x), predict_proba(again, x))


def test_no_pickle_and_bad_blobs_are_refused() -> None:
    x, y = blobs(30, n_classes=2, dim=4, seed=0)
    blob = dump_local_model(fit_local_model(x, y, labels=LABELS))
    import io

    with np.load(io.BytesIO(blob), allow_pickle=False) as z:  # readable without pickle
        assert {"meta", "coef", "intercept", "fitted", "constant"} <= set(z.files)
    with pytest.raises(InvalidInput):
        load_local_model(b"not a model")
    broken = dataclasses.replace(fit_local_model(x, y, labels=LABELS),
                                 intercept=np.zeros(3))
    with pytest.raises(InvalidInput, match="intercept"):
        load_local_model(dump_local_model(broken))
