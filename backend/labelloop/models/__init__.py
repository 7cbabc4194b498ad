"""The local model: logistic regression on embeddings, calibrated, with its lineage.

Typical use (a retrain job)::

    result = train_local_model(X_labeled, y, labels=schema.labels)   # ms on cached embeddings
    probas = predict_proba(result.model, X_all)                       # (n, n_labels), config order
    lineage = model_lineage(result.model, result.metrics, task_ids=ids, y=y, embedder=name,
                            parent=previous_version)
"""

from labelloop.models.lineage import (
    model_from_bytes,
    model_lineage,
    model_to_bytes,
    train_hash,
    version_name,
)
from labelloop.models.logistic import (
    InvalidTrainingData,
    LocalModel,
    fit_local_model,
    predict,
    predict_proba,
)
from labelloop.models.training import CvMetrics, TrainResult, train_local_model

__all__ = [
    "CvMetrics",
    "InvalidTrainingData",
    "LocalModel",
    "TrainResult",
    "fit_local_model",
    "model_from_bytes",
    "model_lineage",
    "model_to_bytes",
    "predict",
    "predict_proba",
    "train_hash",
    "train_local_model",
    "version_name",
]
