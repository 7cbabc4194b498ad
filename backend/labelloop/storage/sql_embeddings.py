"""The embedding cache, in SQL: get and put vectors by (model name, text hash).

Writes are insert-or-ignore: a vector, once stored, is never replaced (the same text under the
same model always has the same vector), so two workers embedding the same texts at once is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import sqlalchemy as sa

from labelloop.errors import InvalidInput
from labelloop.storage.sql_util import chunks, now, upsert
from labelloop.storage.tables_embeddings import embeddings as _table

VectorDtype = Literal["float32", "float16"]
_DTYPES: dict[str, np.dtype] = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}
_E = _table.c


def encode_vector(vector: np.ndarray, dtype: VectorDtype) -> bytes:
    """A 1-d vector as raw little-endian bytes of ``dtype``."""
    if dtype not in _DTYPES:
        raise InvalidInput(f"embedding dtype must be float32 or float16, not {dtype!r}")
    v = np.asarray(vector)
    if v.ndim != 1:
        raise InvalidInput(f"an embedding must be 1-d, got shape {v.shape}")
    return v.astype(_DTYPES[dtype], copy=False).tobytes()


def decode_vector(blob: bytes, *, dim: int, dtype: str) -> np.ndarray:
    """Raw bytes back to a float32 vector; raises InvalidInput when they do not fit ``dim``."""
    if dtype not in _DTYPES:
        raise InvalidInput(f"stored embedding has unknown dtype {dtype!r}")
    v = np.frombuffer(blob, dtype=_DTYPES[dtype])
    if v.shape != (dim,):
        raise InvalidInput(f"stored embedding has {v.size} values, expected {dim}")
    return v.astype(np.float32)


class EmbeddingsTx:
    conn: sa.Connection

    def get_embeddings(self, model: str, text_hashes: list[str]) -> dict[str, np.ndarray]:
        """The stored float32 vectors of ``model`` for the hashes that have one."""
        out: dict[str, np.ndarray] = {}
        for chunk in chunks(sorted(set(text_hashes))):
            q = sa.select(_E.text_hash, _E.dim, _E.dtype, _E.vector).where(
                _E.model == model, _E.text_hash.in_(chunk))
            for r in self.conn.execute(q):
                out[r.text_hash] = decode_vector(r.vector, dim=r.dim, dtype=r.dtype)
        return out

    def put_embeddings(self, model: str, vectors: Mapping[str, np.ndarray], *,
                       dtype: VectorDtype = "float32") -> None:
        """Store vectors by text hash; hashes already stored for ``model`` are left as they are."""
        ts = now()
        rows = [{"model": model, "text_hash": h, "dim": int(np.asarray(v).shape[0]),
                 "dtype": dtype, "vector": encode_vector(v, dtype), "created_at": ts}
                for h, v in vectors.items()]
        for chunk in chunks(rows):
            upsert(self.conn, _table, chunk, keys=["model", "text_hash"], update=[])

    def count_embeddings(self, model: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(_table)
        if model is not None:
            q = q.where(_E.model == model)
        return int(self.conn.execute(q).scalar() or 0)
