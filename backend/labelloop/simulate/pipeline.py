"""From a JSONL file to a :class:`SimulationResult`: embed (through an on-disk cache), ask the
LLM if one is given, split, and run the loop. The CLI is a thin layer over :func:`simulate_file`
(class labels), :func:`simulate_dataset_file` (the dataset objective) and
:func:`simulate_span_file` (span data).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelloop.embeddings import Embedder, SentenceTransformerEmbedder, embed_cached
from labelloop.errors import InvalidInput, LabelloopError
from labelloop.labelconfig.spans import Span
from labelloop.simulate.data import LabeledData, load_jsonl, train_test_split
from labelloop.simulate.dataset_engine import DatasetSimulationConfig
from labelloop.simulate.engine import (
    SimulationConfig,
    SimulationResult,
    SpanSimulationConfig,
    run_simulation,
)
from labelloop.simulate.span_data import SpanData, load_span_jsonl, span_train_test_split


class LlmUnavailable(LabelloopError):
    status = 503
    code = "llm_unavailable"


@dataclass(frozen=True)
class LlmSource:
    base_url: str
    model: str
    api_key: str | None = None
    concurrency: int = 8


@dataclass(frozen=True)
class SimulatedLlmSource:
    """An LLM simulated from the data instead of called (:mod:`.realistic_llm`): right on
    ``accuracy`` of the train items, wrong on the hard ones, its confidence separating right
    from wrong with AUROC about ``auroc``."""

    accuracy: float
    auroc: float = 0.8

    def note(self) -> str:
        return (f"LLM simulated from the data (labelloop.simulate.realistic_llm): accuracy "
                f"{self.accuracy:.2f} on the train split, confidence AUROC {self.auroc:.2f}")


def simulated_llm_probas(x: np.ndarray, y: np.ndarray, *, n_classes: int,
                         source: SimulatedLlmSource, seed: int) -> np.ndarray:
    """The simulated LLM's ``(n, n_classes)`` distributions on the items ``x``, ``y``."""
    from labelloop.simulate.realistic_llm import realistic_llm

    return realistic_llm(x, y, n_classes=n_classes, accuracy=source.accuracy,
                         auroc=source.auroc, rng=np.random.default_rng(seed)).probas


def embed_texts(texts: Sequence[str], *, embedder: Embedder, cache_dir: Path | None,
                progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Vectors for ``texts``; with ``cache_dir``, through a SQLite cache there (so a second run
    on the same file encodes nothing)."""
    if cache_dir is None:
        vectors = embedder.encode(list(texts))
        if progress is not None:
            progress(len(texts))
        return vectors
    from labelloop.storage import open_storage

    cache_dir.mkdir(parents=True, exist_ok=True)
    store = open_storage(f"sqlite:///{(cache_dir / 'embeddings.db').as_posix()}")
    try:
        return embed_cached(texts, embedder=embedder, store=store, progress=progress)
    finally:
        store.close()


def llm_distributions(texts: Sequence[str], labels: Sequence[str], llm: LlmSource) -> np.ndarray:
    """The LLM's label distribution per text ``(n, n_labels)``, NaN rows where it failed."""
    try:
        from labelloop.llm import label_texts_sync
    except ImportError as exc:
        raise LlmUnavailable("this build has no labelloop.llm.label_texts_sync yet") from exc
    out = np.asarray(label_texts_sync(list(texts), list(labels), base_url=llm.base_url,
                                      model=llm.model, api_key=llm.api_key,
                                      concurrency=llm.concurrency), dtype=np.float64)
    if out.shape != (len(texts), len(labels)):
        raise LlmUnavailable(f"the LLM labeler returned shape {out.shape}, expected "
                             f"{(len(texts), len(labels))}")
    return out


def simulate_file(path: str | Path, *, config: SimulationConfig, text_field: str = "text",
                  label_field: str = "label", test_fraction: float = 0.2, split_seed: int = 0,
                  embedder: Embedder | None = None, cache_dir: Path | None = None,
                  llm: LlmSource | SimulatedLlmSource | None = None,
                  embed_progress: Callable[[int], None] | None = None,
                  step: Callable[[], None] | None = None,
                  ) -> tuple[LabeledData, SimulationResult]:
    data = load_jsonl(path, text_field=text_field, label_field=label_field)
    train, test = train_test_split(data, test_fraction=test_fraction, seed=split_seed)
    emb = embedder if embedder is not None else SentenceTransformerEmbedder()
    x = embed_texts(data.texts, embedder=emb, cache_dir=cache_dir, progress=embed_progress)
    llm_probas = None
    if isinstance(llm, SimulatedLlmSource):
        llm_probas = simulated_llm_probas(x[train], data.y[train], n_classes=len(data.labels),
                                          source=llm, seed=split_seed)
    elif llm is not None:
        llm_probas = llm_distributions([data.texts[i] for i in train], data.labels, llm)
    result = run_simulation(x[train], data.y[train], x[test], data.y[test], labels=data.labels,
                            config=config, llm_probas=llm_probas, step=step)
    if isinstance(llm, SimulatedLlmSource):
        result.notes.append(llm.note())
    return data, result


def llm_span_sets(texts: Sequence[str], labels: Sequence[str],
                  llm: LlmSource) -> list[tuple[Span, ...] | None]:
    """The LLM's entities of each text as spans located in it (None where the LLM failed)."""
    from labelloop.llm import label_spans_sync

    out = label_spans_sync(list(texts), list(labels), base_url=llm.base_url, model=llm.model,
                           api_key=llm.api_key, concurrency=llm.concurrency)
    if len(out) != len(texts):
        raise LlmUnavailable(f"the LLM labeler returned {len(out)} span sets for {len(texts)} "
                             "texts")
    return out


def simulate_span_file(path: str | Path, *, config: SpanSimulationConfig,
                       text_field: str = "text", spans_field: str = "spans",
                       test_fraction: float = 0.2, split_seed: int = 0,
                       embedder: Embedder | None = None, cache_dir: Path | None = None,
                       llm: LlmSource | None = None,
                       embed_progress: Callable[[int], None] | None = None,
                       step: Callable[[], None] | None = None,
                       ) -> tuple[SpanData, SimulationResult]:
    """:func:`simulate_file` for span data (``{"text", "spans": [...]}`` rows): sentence
    embeddings for diversity and cold start, the token model of ``config.kind`` per round;
    with ``llm``, the LLM's entities of the train texts for disagreement and cold start."""
    from labelloop.simulate.span_engine import run_span_simulation

    data = load_span_jsonl(path, text_field=text_field, spans_field=spans_field)
    train, test = span_train_test_split(data, test_fraction=test_fraction, seed=split_seed)
    emb = embedder if embedder is not None else SentenceTransformerEmbedder()
    tr, te = train.tolist(), test.tolist()
    x = embed_texts([data.texts[i] for i in tr], embedder=emb, cache_dir=cache_dir,
                    progress=embed_progress)
    llm_spans = None if llm is None else llm_span_sets([data.texts[i] for i in tr],
                                                         data.labels, llm)
    result = run_span_simulation(
        [data.texts[i] for i in tr], [data.spans[i] for i in tr],
        [data.texts[i] for i in te], [data.spans[i] for i in te], x, labels=data.labels,
        config=config, llm_spans=llm_spans, embedder=emb if config.kind != "crf" else None,
        step=step)
    return data, result


def precomputed_llm_probas(path: str | Path, labels: Sequence[str], *, label_field: str,
                           confidence_field: str | None) -> np.ndarray:
    """The LLM's ``(n, len(labels))`` distributions from columns of the JSONL file: its label
    gets its confidence (missing: 1), the rest is spread evenly over the other classes; NaN
    rows where the row has no LLM label."""
    from labelloop.quality.dataset_labels import member_probas
    from labelloop.simulate.data import InvalidDataFile, json_rows

    index = {c: i for i, c in enumerate(labels)}
    rows = json_rows(path)
    label = np.full(len(rows), -1, dtype=np.int64)
    conf = np.full(len(rows), np.nan)
    for j, (n, row) in enumerate(rows):
        given = row.get(label_field)
        if given is None:
            continue
        if str(given) not in index:
            raise InvalidDataFile(f"{path}:{n}: LLM label {given!r} in {label_field!r} is not "
                                  f"one of the labels {list(labels)}")
        label[j] = index[str(given)]
        c = row.get(confidence_field) if confidence_field else None
        if c is not None:
            if not isinstance(c, (int, float)) or isinstance(c, bool) or not 0.0 <= c <= 1.0:
                raise InvalidDataFile(f"{path}:{n}: {confidence_field!r} must be a number in "
                                      "[0, 1]")
            conf[j] = float(c)
    out = member_probas(np.full((len(rows), len(labels)), np.nan), label, conf)
    return np.full((len(rows), len(labels)), np.nan) if out is None else out


def simulate_dataset_file(path: str | Path, *, config: DatasetSimulationConfig,
                          text_field: str = "text", label_field: str = "label",
                          test_fraction: float = 0.2, split_seed: int = 0,
                          embedder: Embedder | None = None, cache_dir: Path | None = None,
                          llm: LlmSource | None = None, llm_label_field: str | None = None,
                          llm_confidence_field: str | None = None,
                          embed_progress: Callable[[int], None] | None = None,
                          step: Callable[[], None] | None = None,
                          ) -> tuple[LabeledData, SimulationResult]:
    """The dataset objective on a file (:mod:`labelloop.simulate.dataset_engine`): the LLM's
    answers on the train split come from ``llm`` or from the precomputed columns."""
    from labelloop.simulate.dataset_engine import run_dataset_simulation

    data = load_jsonl(path, text_field=text_field, label_field=label_field)
    train, test = train_test_split(data, test_fraction=test_fraction, seed=split_seed)
    if llm_label_field is not None:
        llm_probas = precomputed_llm_probas(path, data.labels, label_field=llm_label_field,
                                            confidence_field=llm_confidence_field)[train]
    elif llm is not None:
        llm_probas = llm_distributions([data.texts[i] for i in train], data.labels, llm)
    else:
        raise InvalidInput("the dataset objective needs an LLM: --llm-base-url/--llm-model or "
                           "--llm-label-field")
    emb = embedder if embedder is not None else SentenceTransformerEmbedder()
    x = embed_texts(data.texts, embedder=emb, cache_dir=cache_dir, progress=embed_progress)
    result = run_dataset_simulation(x[train], data.y[train], x[test], data.y[test],
                                    labels=data.labels, llm_probas=llm_probas, config=config,
                                    step=step)
    return data, result
