"""The one seam where tasks' inputs become vectors, whatever their modality.

A task's input is what :func:`labelloop.labelconfig.kinds.task_input` gives: a text, or a media
value (an upload path, a URL, a ``data:`` URL, a cloud URI). :func:`encode_inputs` dispatches on
the schema's modality through :data:`labelloop.modalities.SERVED` and nothing else:

* **text**: the process's text embedder, through the embedding cache
  (:func:`labelloop.embeddings.embed_each`);
* **media**: the bytes from :class:`~labelloop.media.fetch.MediaFetcher` (the only way to get
  them: the token goes to Label Studio only, SSRF rules, size limit, type sniffed from the bytes
  against the modality's fetch kind, a disk cache so a second run downloads nothing), then the
  modality's media embedder through the same cache, keyed by the file's content
  (:func:`labelloop.embeddings.media_cache.embed_media_each`). Values are fetched and embedded
  in chunks, so memory holds one chunk's files, never a project's.

An input that gives no vector (text that cannot be encoded, a file that will not fetch or
decode) is a skip with its reason, by position; a fetch that failed for a reason that may pass
(timeout, unreachable, a 5xx) is also marked ``transient``, so the job fetches it again later.
Never a crash, never a zero vector taken for a real one.

:func:`embed_tasks` is the jobs' entry: the project's Label Studio credentials picked as every
Label Studio call picks them (:class:`~labelloop.labelstudio.access.GatewayProvider`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from labelloop.embeddings import Embedder, embed_each
from labelloop.embeddings.cache import EmbeddingStore
from labelloop.embeddings.media_cache import embed_media_each
from labelloop.jobs.context import JobContext
from labelloop.labelconfig.schema import LabelSchema
from labelloop.loop.resources import Resources
from labelloop.media.types import Media, MediaSkip
from labelloop.modalities import Modality, modality_input

if TYPE_CHECKING:
    from labelloop.embeddings.media_base import MediaEmbedder

log = logging.getLogger(__name__)
_WHERE = re.compile(r" \([^()]*://[^()]*\)$")  # the " (http://…)" a fetch reason ends with
MEDIA_CHUNK = 256  # media values fetched and embedded at once (the files held in memory)


@dataclass(frozen=True)
class InputVectors:
    """What :func:`encode_inputs` made: ``vectors`` float32 ``(n, dim)`` (zero rows where it
    failed), ``failed`` {position: why there is no vector}, ``transient`` the failed positions
    worth trying again later, ``embedder`` the name of the vector space, ``encoded`` how many
    inputs were encoded now (not read from the cache)."""

    vectors: np.ndarray
    embedder: str
    failed: dict[int, str] = field(default_factory=dict)
    transient: frozenset[int] = frozenset()
    encoded: int = 0

    @property
    def ok(self) -> np.ndarray:
        """(n,) bool: the positions that have a vector."""
        mask = np.ones(len(self.vectors), dtype=bool)
        mask[list(self.failed)] = False
        return mask


def encode_inputs(values: Sequence[str], *, modality: Modality, resources: Resources,
                  store: EmbeddingStore, task_ids: Sequence[int] | None = None,
                  project_id: int | None = None, label_studio: tuple[str, str] | None = None,
                  progress: Callable[[int], None] | None = None,
                  chunk_size: int = MEDIA_CHUNK,
                  text_embedder: Embedder | None = None) -> InputVectors:
    """Vectors of ``values`` (task inputs of one ``modality``, in order). ``task_ids`` (the
    tasks the values belong to) and ``project_id`` resolve cloud URIs through Label Studio and
    name the tasks in skip logs; ``label_studio``: the (URL, key) to fetch Label Studio's media
    with (None: the settings'). ``progress`` is called with the number of inputs just handled.
    ``text_embedder``: the project's text encoder (None: the process's;
    :mod:`labelloop.loop.encoders`)."""
    spec = modality_input(modality)
    if spec.fetch is None:
        encoded = 0

        def counted(n: int) -> None:
            nonlocal encoded
            encoded += n
            if progress is not None:
                progress(n)

        text = text_embedder or resources.embedder
        got = embed_each(list(values), embedder=text, store=store, progress=counted)
        return InputVectors(got.vectors, text.name, got.failed, encoded=encoded)
    embedder = resources.media_embedder(modality)
    fetcher = resources.media_fetcher(label_studio)
    ids: Sequence[int | None] = list(task_ids) if task_ids is not None else [None] * len(values)
    out = np.zeros((len(values), embedder.dim), dtype=np.float32)
    failed: dict[int, str] = {}
    transient: set[int] = set()
    encoded = 0
    starts = list(range(0, len(values), chunk_size))

    def fetch(start: int) -> list[Media | MediaSkip]:
        stop = min(start + chunk_size, len(values))
        return fetcher.fetch_many(list(values[start:stop]), task_ids=list(ids[start:stop]),
                                  project_id=project_id, kind=spec.fetch)

    def prefetched() -> Iterator[list[Media | MediaSkip]]:
        """Each chunk's fetch results, the next chunk fetched while this one is embedded
        (network and CPU overlap; two chunks' files in memory at most)."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-prefetch") as ahead:
            future: Future[list[Media | MediaSkip]] | None = None
            for start in starts:
                current, future = future, ahead.submit(fetch, start)
                if current is not None:
                    yield current.result()
            if future is not None:
                yield future.result()

    for start, fetched in zip(starts, prefetched()):
        encoded += _embed_chunk(fetched, start, embedder, store, out, failed, transient)
        if progress is not None:
            progress(len(fetched))
    return InputVectors(out, embedder.name, dict(sorted(failed.items())), frozenset(transient),
                        encoded)


def _embed_chunk(fetched: Sequence[Media | MediaSkip], start: int, embedder: MediaEmbedder,
                 store: EmbeddingStore, out: np.ndarray, failed: dict[int, str],
                 transient: set[int]) -> int:
    """Embed one fetched chunk (positions from ``start``) into ``out``, recording why each
    position has no vector in ``failed`` (and ``transient``); how many files were encoded."""
    have: list[int] = []
    blobs: list[bytes] = []
    for pos, item in enumerate(fetched, start):
        if isinstance(item, Media):
            have.append(pos)
            blobs.append(item.data)
        else:
            failed[pos] = _fetch_reason(item)
            if item.transient:
                transient.add(pos)
    if not blobs:
        return 0
    made, n_new = embed_media_each(blobs, embedder=embedder, store=store)
    out[have] = made.vectors
    for i, why in made.failed.items():
        failed[have[i]] = f"media not decoded: {why}"
    return n_new


def _fetch_reason(skip: MediaSkip) -> str:
    """A skip's reason as stored: its code and reason without the URL the fetcher appends, so
    tasks with the same problem group (their ids are listed with the reason)."""
    return f"media not fetched: {skip.code}: {_WHERE.sub('', skip.reason)}"


def embed_tasks(ctx: JobContext, project_id: int, schema: LabelSchema, values: Sequence[str],
                task_ids: Sequence[int], *,
                progress: Callable[[int], None] | None = None) -> InputVectors:
    """:func:`encode_inputs` for a job: the project's Label Studio credentials (settings', or
    trusted ``/setup`` ones) fetch its media."""
    label_studio = None
    text_embedder = None
    if schema.modality != "text":
        with ctx.storage.read() as tx:
            label_studio = ctx.gateways.credentials(tx.get_project(project_id))
    else:  # the project's current encoder, read once: a switch mid-run waits for the next
        text_embedder = ctx.resources.project_text_embedder(ctx.storage, project_id)
    return encode_inputs(values, modality=schema.modality, resources=ctx.resources,
                         store=ctx.storage, task_ids=task_ids, project_id=project_id,
                         label_studio=label_studio, progress=progress,
                         text_embedder=text_embedder)
