"""The screening model of each project (``"screen"`` artefacts, :mod:`labelloop.models.screen`),
loaded once per version and kept while it is the newest: built once per app (the stream ingest
owns one), never at module level."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from labelloop.storage.base import Tx

if TYPE_CHECKING:
    from labelloop.models.screen import ScreenModel

KIND = "screen"


class ScreenCache:
    """``current(tx, project_id)``: the project's newest screening model and its version, or
    None before any retrain stored one. The newest version's name is looked up at most once per
    ``recheck_s`` per project (a new model is used at most that late; one query saved per
    batch); the artefact is read and decoded only when that version changed. Thread-safe."""

    def __init__(self, *, recheck_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recheck_s = recheck_s
        self.clock = clock
        self._lock = threading.Lock()
        self._models: dict[int, tuple[str, ScreenModel] | None] = {}
        self._checked: dict[int, float] = {}

    def current(self, tx: Tx, project_id: int) -> tuple[str, ScreenModel] | None:
        now = self.clock()
        with self._lock:
            hit = self._models.get(project_id)
            fresh = now - self._checked.get(project_id, -float("inf")) < self.recheck_s
        if fresh:
            return hit
        version = tx.latest_model_artifact_version(project_id, KIND)
        loaded = hit
        if version is None:
            loaded = None
        elif hit is None or hit[0] != version:
            from labelloop.models.screen import load_screen  # only once a retrain stored one

            blob = tx.get_model_artifact(project_id, version, KIND)
            # deleted between the two reads: the older model, and a look again next time
            loaded = (version, load_screen(blob)) if blob is not None else hit
        with self._lock:
            self._models[project_id] = loaded
            if loaded is None or loaded[0] == version:
                self._checked[project_id] = now
        return loaded

    def forget(self, project_id: int) -> None:
        """Look the project's version up again on the next call."""
        with self._lock:
            self._models.pop(project_id, None)
            self._checked.pop(project_id, None)
