"""Few-shot examples from human labels.

:func:`select_examples` is pure: it takes the candidates' labels (and optionally their
embeddings, the query's embedding and which ones the LLM got wrong before) and returns the
positions of ``k`` examples. Classes take turns (class-balanced); within a class the best
candidate comes first, by ``similarity + wrong_bonus * wrong`` (similarity is the cosine to the
query when embeddings are given, else 0); ties are broken by ``rng``.

:class:`ExamplePool` holds the candidates for one project; :meth:`ExamplePool.for_text` gives the
(text, labels) pairs to show for one task, with a generator seeded by the task's text so that
the same task gets the same examples on every run (and hits the response cache).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from labelloop.errors import InvalidInput


def select_examples(labels: np.ndarray, *, k: int, rng: np.random.Generator,
                    embeddings: np.ndarray | None = None, query: np.ndarray | None = None,
                    llm_wrong: np.ndarray | None = None, wrong_bonus: float = 1.0) -> np.ndarray:
    """Positions (into ``labels``) of up to ``k`` examples, best first within each round.

    ``labels``: ``(n,)`` class indices, or ``(n, n_classes)`` 0/1 indicators for multiple
    choice (an item then competes in each of its classes). ``embeddings``: ``(n, d)``, used with
    ``query`` ``(d,)``. ``llm_wrong``: ``(n,)`` bool, True where the LLM's earlier answer
    disagreed with the human label.
    """
    y = np.asarray(labels)
    if y.ndim not in (1, 2):
        raise InvalidInput(f"labels must be 1-d class indices or 2-d indicators, got {y.shape}")
    if k < 0:
        raise InvalidInput(f"k must be >= 0, got {k}")
    n = y.shape[0]
    if n == 0 or k == 0:
        return np.zeros(0, dtype=np.int64)
    member = _membership(y)
    score = np.zeros(n)
    if embeddings is not None and query is not None:
        e = np.asarray(embeddings, dtype=np.float64)
        q = np.asarray(query, dtype=np.float64)
        if e.shape[0] != n or e.ndim != 2 or q.shape != (e.shape[1],):
            raise InvalidInput(f"embeddings {e.shape} and query {q.shape} do not fit {n} labels")
        norms = np.linalg.norm(e, axis=1) * max(np.linalg.norm(q), 1e-12)
        score += (e @ q) / np.maximum(norms, 1e-12)
    if llm_wrong is not None:
        w = np.asarray(llm_wrong, dtype=bool)
        if w.shape != (n,):
            raise InvalidInput(f"llm_wrong has shape {w.shape}, expected ({n},)")
        score += wrong_bonus * w
    tiebreak = rng.random(n)
    queues = []
    for c in range(member.shape[1]):
        idx = np.flatnonzero(member[:, c])
        order = np.lexsort((tiebreak[idx], -score[idx]))
        queues.append(list(idx[order]))
    class_order = rng.permutation(len(queues))
    chosen: list[int] = []
    taken = np.zeros(n, dtype=bool)
    while len(chosen) < k and any(queues):
        for c in class_order:
            q_c = queues[c]
            while q_c and taken[q_c[0]]:
                q_c.pop(0)
            if q_c and len(chosen) < k:
                i = q_c.pop(0)
                taken[i] = True
                chosen.append(int(i))
    return np.asarray(chosen, dtype=np.int64)


def _membership(y: np.ndarray) -> np.ndarray:
    if y.ndim == 2:
        return y.astype(bool)
    if y.size and (y.min() < 0 or not np.issubdtype(y.dtype, np.integer)):
        raise InvalidInput("class indices must be non-negative integers")
    out = np.zeros((y.shape[0], int(y.max()) + 1), dtype=bool)
    out[np.arange(y.shape[0]), y] = True
    return out


@dataclass(frozen=True)
class ExamplePool:
    """Human-labeled candidates for few-shot examples. ``labels`` are output labels (as
    stored in results); ``classes`` is the label order used for balancing."""

    texts: list[str]
    labels: list[list[str]]
    classes: list[str]
    embeddings: np.ndarray | None = None
    llm_wrong: np.ndarray | None = None
    entities: list[list[tuple[str, str]]] | None = None
    """Text spans: each text's entities as (mention, output label) in reading order, the answer
    it is shown with; ``labels`` then holds the distinct labels of its spans."""

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise InvalidInput("an example pool needs one label list per text")
        if self.entities is not None and len(self.entities) != len(self.texts):
            raise InvalidInput("an example pool needs one entity list per text")

    def indicators(self) -> np.ndarray:
        pos = {c: i for i, c in enumerate(self.classes)}
        out = np.zeros((len(self.labels), len(self.classes)), dtype=np.int8)
        for row, labels in enumerate(self.labels):
            for label in labels:
                if label in pos:
                    out[row, pos[label]] = 1
        return out

    def for_text(self, text: str, *, k: int, seed: int = 0,
                 embedding: np.ndarray | None = None) -> list[tuple[str, list[str]]]:
        """Up to ``k`` (text, output labels) examples for ``text`` (never ``text`` itself)."""
        return [(self.texts[i], self.labels[i])
                for i in self.pick(text, k=k, seed=seed, embedding=embedding)]

    def spans_for_text(self, text: str, *, k: int, seed: int = 0,
                       embedding: np.ndarray | None = None,
                       ) -> list[tuple[str, list[tuple[str, str]]]]:
        """Up to ``k`` (text, entities) examples for ``text``, chosen as :meth:`for_text`
        chooses them (a pool without entities gives none)."""
        if self.entities is None:
            return []
        return [(self.texts[i], self.entities[i])
                for i in self.pick(text, k=k, seed=seed, embedding=embedding)]

    def pick(self, text: str, *, k: int, seed: int = 0,
             embedding: np.ndarray | None = None) -> list[int]:
        """Positions of up to ``k`` examples for ``text`` (never ``text`` itself)."""
        if k <= 0 or not self.texts:
            return []
        digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        rng = np.random.default_rng([seed, digest])
        y = self.indicators()
        keep = np.array([t != text for t in self.texts]) & y.any(axis=1)
        idx = np.flatnonzero(keep)
        emb = self.embeddings[idx] if self.embeddings is not None and embedding is not None \
            else None
        wrong = self.llm_wrong[idx] if self.llm_wrong is not None else None
        picked = select_examples(y[idx], k=k, rng=rng, embeddings=emb,
                                 query=embedding if emb is not None else None, llm_wrong=wrong)
        return [int(idx[i]) for i in picked]
