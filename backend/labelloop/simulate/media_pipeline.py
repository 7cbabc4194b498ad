"""From a :class:`~.media_data.MediaSet` to a :class:`~.engine.SimulationResult`: the text
simulation's engine (:func:`~.engine.run_simulation`, vectors and gold labels in) on media.

1. The files are read a chunk at a time (:func:`~.media_data.read_media`) and embedded by a
   :class:`~labelloop.embeddings.media_base.MediaEmbedder` — the built-in image or audio one, the
   configured CLIP, or the video embedder — through the same on-disk embedding cache as texts
   (keyed by the file's content), so a second run decodes nothing.
2. Files that cannot be read or decoded are dropped with their reasons (the result's ``notes``
   say how many and why), as a project skips them.
3. The LLM, when one is asked for: a vision/audio endpoint (:class:`~.pipeline.LlmSource`,
   through :func:`labelloop.llm.sync.label_media_sync`), or one simulated from the data
   (:class:`~.pipeline.SimulatedLlmSource`: wrong on the hard items, see :mod:`.realistic_llm`).
   It joins the committee and the cold start as for text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from labelloop.embeddings.cache import Embedded
from labelloop.embeddings.media_base import MediaEmbedder
from labelloop.errors import InvalidInput
from labelloop.simulate.data import InvalidDataFile, train_test_split
from labelloop.simulate.engine import SimulationConfig, SimulationResult, run_simulation
from labelloop.simulate.media_data import MediaSet, Unread, read_media
from labelloop.simulate.pipeline import LlmSource, SimulatedLlmSource, simulated_llm_probas

if TYPE_CHECKING:
    from labelloop.llm.media_parts import MediaInput
    from labelloop.media.fetch import MediaFetcher

CHUNK = 256


def embed_media_set(data: MediaSet, *, embedder: MediaEmbedder, cache_dir: Path | None,
                    fetcher: MediaFetcher | None = None, chunk: int = CHUNK,
                    progress: Callable[[int], None] | None = None) -> Embedded:
    """Vectors of every item of ``data`` in order (zero rows and a reason where there is none);
    with ``cache_dir``, through a SQLite embedding cache there."""
    if embedder.modality != data.modality:
        raise InvalidInput(f"a {embedder.modality} embedder cannot embed {data.modality} items")
    store = None
    if cache_dir is not None:
        from labelloop.storage import open_storage

        cache_dir.mkdir(parents=True, exist_ok=True)
        store = open_storage(f"sqlite:///{(cache_dir / 'embeddings.db').as_posix()}")
    vectors = np.zeros((len(data), embedder.dim), dtype=np.float32)
    failed: dict[int, str] = {}
    try:
        for start in range(0, len(data), chunk):
            got = read_media(data.sources[start:start + chunk], modality=data.modality,
                             fetcher=fetcher)
            ok = [j for j, g in enumerate(got) if isinstance(g, bytes)]
            for j, g in enumerate(got):
                if isinstance(g, Unread):
                    failed[start + j] = g.reason
            blobs = [g for g in got if isinstance(g, bytes)]
            if store is not None:
                from labelloop.embeddings.media_cache import embed_media_each

                encoded, _ = embed_media_each(blobs, embedder=embedder, store=store)
            else:
                encoded = embedder.encode_each(blobs)
            for pos, j in enumerate(ok):
                if pos in encoded.failed:
                    failed[start + j] = encoded.failed[pos]
                else:
                    vectors[start + j] = encoded.vectors[pos]
            if progress is not None:
                progress(len(got))
    finally:
        if store is not None:
            store.close()
    return Embedded(vectors, dict(sorted(failed.items())))


def skip_note(data: MediaSet, failed: dict[int, str], *, shown: int = 3) -> str | None:
    """One line on the items left out: how many, and the first few with their reasons."""
    if not failed:
        return None
    first = "; ".join(f"{data.names[i]}: {why}" for i, why in list(failed.items())[:shown])
    return f"{len(failed)} of {len(data)} {data.modality} files left out (not embedded): {first}"


def _media_inputs(data: MediaSet, positions: np.ndarray,
                  fetcher: MediaFetcher | None) -> Iterator[MediaInput]:
    from labelloop.llm.media_parts import MediaInput

    for start in range(0, positions.size, CHUNK):
        part = positions[start:start + CHUNK]
        got = read_media([data.sources[i] for i in part], modality=data.modality,
                         fetcher=fetcher)
        for g in got:
            if not isinstance(g, bytes):  # embedded a moment ago: read again, it must be there
                raise InvalidDataFile(f"a file could not be read again for the LLM: {g.reason}")
            yield MediaInput.image(g) if data.modality == "image" else MediaInput.audio(g)


def media_llm_probas(data: MediaSet, positions: np.ndarray, llm: LlmSource, *,
                     fetcher: MediaFetcher | None = None) -> np.ndarray:
    """A vision/audio endpoint's label distribution for the items at ``positions``
    ``(n, n_labels)``, NaN rows where it gave none (a refused kind: every row NaN)."""
    from labelloop.llm.sync import label_media_sync

    if data.modality == "video":
        raise InvalidInput("simulate does not send video frames to an LLM: use --simulated-llm")
    out = label_media_sync(_media_inputs(data, positions, fetcher), data.labels,
                           modality=data.modality, base_url=llm.base_url, model=llm.model,
                           api_key=llm.api_key, concurrency=llm.concurrency)
    return np.asarray(out, dtype=np.float64)


def simulate_media(data: MediaSet, *, config: SimulationConfig, embedder: MediaEmbedder,
                   cache_dir: Path | None = None, llm: LlmSource | SimulatedLlmSource | None = None,
                   fetcher: MediaFetcher | None = None, test_fraction: float = 0.2,
                   split_seed: int = 0, embed_progress: Callable[[int], None] | None = None,
                   step: Callable[[], None] | None = None) -> tuple[MediaSet, SimulationResult]:
    """Embed, drop what does not decode, split, ask the LLM (if any) about the train split and
    run every strategy × seed. Returns the items used (in order) and the result."""
    embedded = embed_media_set(data, embedder=embedder, cache_dir=cache_dir, fetcher=fetcher,
                               progress=embed_progress)
    kept = data.subset(embedded.ok)
    x = embedded.vectors[embedded.ok]
    present = np.unique(kept.y)
    if present.size < 2:
        raise InvalidDataFile(f"fewer than two labels have files that decode ({len(kept)} of "
                              f"{len(data)} items left): {skip_note(data, embedded.failed)}")
    train, test = train_test_split(kept, test_fraction=test_fraction, seed=split_seed)
    llm_probas = None
    if isinstance(llm, SimulatedLlmSource):
        llm_probas = simulated_llm_probas(x[train], kept.y[train], n_classes=len(kept.labels),
                                          source=llm, seed=split_seed)
    elif llm is not None:
        llm_probas = media_llm_probas(kept, train, llm, fetcher=fetcher)
    result = run_simulation(x[train], kept.y[train], x[test], kept.y[test], labels=kept.labels,
                            config=config, llm_probas=llm_probas, step=step)
    note = skip_note(data, embedded.failed)
    if note:
        result.notes.append(note)
    if isinstance(llm, SimulatedLlmSource):
        result.notes.append(llm.note())
    elif llm_probas is not None and np.isnan(llm_probas).any(axis=1).all():
        result.notes.append(f"the LLM gave no label for any {data.modality} item (an endpoint "
                            f"that does not take {data.modality} input?): it did not take part")
    result.notes.append(f"{data.modality} vectors: {embedder.name} ({embedder.dim}-d)")
    return kept, result
