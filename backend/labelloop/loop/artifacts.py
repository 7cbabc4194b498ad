"""What a retrain stores beside a text-classification version: its models as artefacts.

* ``"local"``: the local model the plan learned (:mod:`labelloop.models.artifact`), which
  ``POST /api/projects/{id}/classify`` serves and ``labelloop model export`` writes out;
* ``"screen"``: the stream's screening model (:mod:`labelloop.models.screen`), fitted here on
  every task with text: the human label where there is one (weight 1), else the local model's
  label with weight ``0.5 x`` its probability, so the screen sees the whole pool's vocabulary
  while human labels count most.

Pure functions of what the plan already computed (no storage); the retrain job calls
:func:`version_artifacts` and saves the blobs with the version.
"""

from __future__ import annotations

import numpy as np

from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.dataset import ProjectData
from labelloop.loop.plan_types import Learned
from labelloop.models.artifact import dump_local_model
from labelloop.models.logistic import LocalModel
from labelloop.models.screen import dump_screen, fit_screen

MACHINE_WEIGHT = 0.5  # a model-labelled row's weight per unit of the model's probability
KINDS = ("local", "screen")


def screen_training_set(data: ProjectData, probas: np.ndarray, *, multiple: bool
                        ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(texts, y, weights)`` over the tasks with text: human labels where they exist (weight
    1), else the local model's label from ``probas`` ``(n, k)`` (for multiple choice the
    classes at p >= 0.5, else the likeliest) weighted by ``MACHINE_WEIGHT`` times its
    probability (multiple choice: the mean over the chosen classes)."""
    rows = np.flatnonzero(data.has_text)
    human = data.labeled[rows]
    p = probas[rows]
    best = np.argmax(p, axis=1) if rows.size else np.zeros(0, dtype=np.int64)
    if multiple:
        chosen = (p >= 0.5).astype(np.int8)
        chosen[np.arange(rows.size), best] = 1
        confidence = (p * chosen).sum(axis=1) / chosen.sum(axis=1)
        y = np.where(human[:, None], np.nan_to_num(data.y[rows]), chosen).astype(np.int8)
    else:
        confidence = p[np.arange(rows.size), best]
        y = np.where(human, data.label_index()[rows], best).astype(np.int64)
    weights = np.where(human, 1.0, MACHINE_WEIGHT * confidence)
    return [data.texts[i] for i in rows.tolist()], y, weights


def version_artifacts(schema: LabelSchema, data: ProjectData, learned: Learned, *,
                      seed: int = 0) -> dict[str, bytes]:
    """``{kind: blob}`` to store with the version: both kinds for a text-classification
    version with a local model, nothing otherwise."""
    model, probas = learned.model, learned.probas
    if schema.task_type != "text_classification" or schema.modality != "text" \
            or not isinstance(model, LocalModel) or probas is None:
        return {}
    texts, y, weights = screen_training_set(data, probas, multiple=schema.multiple)
    screen = fit_screen(texts, y, labels=schema.labels, multiple=schema.multiple,
                        weights=weights, seed=seed)
    return {"local": dump_local_model(model), "screen": dump_screen(screen)}
