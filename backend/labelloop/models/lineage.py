"""Model versions: a lineage record (what a version was trained on and how well it did), a
content-derived version name, and a pickle-free artifact format.

The lineage is plain JSON (it goes into ``model_versions.lineage``). ``train_hash`` is a hash of
the training set — the (task id, label) pairs, the embedder and the parameters — so a retrain
job that runs twice on the same labels produces the same version name and can skip the work.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labelloop.errors import InvalidInput
from labelloop.models.logistic import LocalModel
from labelloop.models.training import CvMetrics

ARTIFACT_FORMAT = "labelloop-logreg-v1"


def train_hash(task_ids: Sequence[int], y: np.ndarray, *, embedder: str,
               params: Mapping[str, Any]) -> str:
    """SHA-256 over the sorted (task id, label) pairs, the embedder name and the parameters."""
    labels = np.asarray(y)
    if len(task_ids) != labels.shape[0]:
        raise InvalidInput("task_ids and labels must have the same length")
    rows = sorted((int(i), np.atleast_1d(v).astype(int).tolist())
                  for i, v in zip(task_ids, labels))
    raw = json.dumps({"rows": rows, "embedder": embedder, "params": dict(params)},
                     sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def model_lineage(model: LocalModel, metrics: CvMetrics | None, *, task_ids: Sequence[int],
                  y: np.ndarray, embedder: str, parent: str | None = None,
                  extra: Mapping[str, Any] | None = None,
                  distillation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON record of a trained version (store it with the version; never edit it).
    ``distillation``: the :class:`~labelloop.models.distill.DistillChoice` of the training, as
    JSON (``llm_distillation``: whether the LLM's labels were used, the cross-validated
    accuracies it chose on, how many rows and their weight); when they were used, their count
    and weight scale join the hashed parameters (``n_train`` counts their rows)."""
    params: dict[str, Any] = {"C": model.C, "multi_label": model.multi_label}
    if distillation and distillation.get("used"):
        params["llm_rows"] = distillation.get("n_llm")
        params["llm_scale"] = distillation.get("scale")
    return {
        "kind": "logreg",
        "parent": parent,
        "embedder": embedder,
        "labels": list(model.labels),
        "n_train": model.n_train,
        "class_counts": dict(zip(model.labels, model.class_counts)),
        "params": params,
        "temperature": model.temperature,
        "train_hash": train_hash(task_ids, y, embedder=embedder, params=params),
        "cv": None if metrics is None else {
            "accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1,
            "folds": metrics.n_folds, "n_items": metrics.n_items, "log_loss": metrics.log_loss},
        "llm_distillation": dict(distillation) if distillation is not None else None,
        **(dict(extra) if extra else {}),
    }


def version_name(prefix: str, lineage: Mapping[str, Any]) -> str:
    """``<prefix>-<first 12 hex of the train hash>``: the same labels give the same name."""
    return f"{prefix}-{str(lineage['train_hash'])[:12]}"


def model_to_bytes(model: LocalModel) -> bytes:
    """The model as an ``.npz`` (arrays plus a JSON header); no pickle anywhere."""
    meta = {"format": ARTIFACT_FORMAT, "labels": list(model.labels),
            "multi_label": model.multi_label, "class_counts": list(model.class_counts),
            "n_train": model.n_train, "C": model.C, "temperature": model.temperature}
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             coef=model.coef, intercept=model.intercept, fitted=model.fitted,
             constant=model.constant)
    return buf.getvalue()


def model_from_bytes(blob: bytes) -> LocalModel:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            arrays = {k: z[k] for k in ("coef", "intercept", "fitted", "constant")}
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"not a labelloop model artifact: {exc}") from exc
    if meta.get("format") != ARTIFACT_FORMAT:
        raise InvalidInput(f"unknown model artifact format {meta.get('format')!r}")
    return LocalModel(labels=tuple(meta["labels"]), multi_label=bool(meta["multi_label"]),
                      coef=arrays["coef"], intercept=arrays["intercept"],
                      fitted=arrays["fitted"].astype(bool), constant=arrays["constant"],
                      class_counts=tuple(meta["class_counts"]), n_train=int(meta["n_train"]),
                      C=float(meta["C"]), temperature=float(meta["temperature"]))
