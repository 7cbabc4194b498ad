"""The local model as a stored artefact: ``.npz`` bytes, no pickle, a bit-identical round trip.

A retrain stores each text-classification version's :class:`~labelloop.models.logistic.
LocalModel` as its ``"local"`` artefact (``model_artifacts``); the served classifier
(:mod:`labelloop.predict.classify`) and ``labelloop model export`` read it back. The bytes are
the format of :func:`labelloop.models.lineage.model_to_bytes`: the arrays (``coef``,
``intercept``, ``fitted``, ``constant``) as they are, plus ``meta``, the labels and the scalars
as UTF-8 JSON in a ``uint8`` array, so numpy alone reads them (``np.load(...,
allow_pickle=False)``) — the exported ``labelloop_model.py`` does just that.
"""

from __future__ import annotations

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.models.lineage import model_from_bytes, model_to_bytes
from labelloop.models.logistic import LocalModel


def dump_local_model(model: LocalModel) -> bytes:
    """``model`` as ``.npz`` bytes (see the module docstring)."""
    return model_to_bytes(model)


def load_local_model(blob: bytes) -> LocalModel:
    """The model :func:`dump_local_model` wrote, equal to it bit for bit; :class:`InvalidInput`
    when ``blob`` is not one (or its arrays do not fit together)."""
    model = model_from_bytes(blob)
    k = model.n_classes
    shapes = {"coef": (model.coef.ndim == 2 and model.coef.shape[0] == k),
              "intercept": model.intercept.shape == (k,), "fitted": model.fitted.shape == (k,),
              "constant": model.constant.shape == (k,),
              "class_counts": len(model.class_counts) == k}
    bad = [name for name, ok in shapes.items() if not ok]
    if bad or k < 2:
        raise InvalidInput(f"not a usable local model artefact: {', '.join(bad) or 'labels'} "
                           f"do not fit {k} labels")
    if not (np.isfinite(model.coef).all() and np.isfinite(model.intercept).all()):
        raise InvalidInput("not a usable local model artefact: coefficients are not finite")
    return model
