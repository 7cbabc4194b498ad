"""Targeted double annotation: which tasks get a second human label, and asking Label Studio.

**Which tasks** (pure, :func:`second_annotation_positions`). Only tasks with exactly one human
annotation are candidates; ``budget`` caps how many are asked for per call. In order:

1. ``"disagrees_with_both"``: the human label differs from both the LLM's and the local model's
   (the review list, in its order: machines agreeing with each other first, then by confidence);
2. ``"disagrees_with_confident_llm"``: the human label differs from an LLM label given with
   confidence >= ``min_llm_confidence`` (highest confidence first);
3. ``"agreement_sample"``: a uniform draw (``rng``) from the remaining candidates, until
   ``agreement_target`` tasks have two or more annotations. Agreement statistics measured only on
   the disputed tasks above would be biased low; this sample keeps an unbiased set.

Tasks already asked for (``requested``) are not candidates again.

**Asking Label Studio** (:func:`request_annotations`). Label Studio 1.23.2 (open source) serves a
task again, to a *different* user, after ``PATCH /api/tasks/{id}/`` with ``{"overlap": 2,
"is_labeled": false}``; ``overlap`` alone is stored but leaves ``is_labeled`` true and the task is
not served. The same user is never served a task they annotated. Facts and the test that pins
them: docs/quality.md, tests/e2e/test_double_annotation.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
import numpy as np
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.request_options import RequestOptions
from numpy.typing import ArrayLike

from labelloop.errors import InvalidInput, LabelStudioUnavailable
from labelloop.quality.align import Aligned
from labelloop.quality.review import review_positions

Reason = Literal["disagrees_with_both", "disagrees_with_confident_llm", "agreement_sample"]


@dataclass(frozen=True)
class SecondAnnotation:
    position: int  # row of the arrays passed in
    reason: Reason


def second_annotation_positions(
    first: ArrayLike, n_annotations: ArrayLike, llm: ArrayLike, model: ArrayLike, *,
    llm_confidence: ArrayLike, model_confidence: ArrayLike | None = None,
    requested: ArrayLike | None = None, budget: int, min_llm_confidence: float = 0.9,
    agreement_target: int = 0, rng: np.random.Generator,
) -> list[SecondAnnotation]:
    """Rows that should get a second annotation, at most ``budget`` (see the module docstring).

    ``first`` / ``llm`` / ``model`` are class indices (NaN = missing), ``n_annotations`` counts
    the distinct annotators of each row, ``requested`` marks rows already asked for.
    """
    f = np.asarray(first, dtype=np.float64)
    n = f.shape[0]
    counts = np.asarray(n_annotations)
    a = np.asarray(llm, dtype=np.float64)
    conf = np.asarray(llm_confidence, dtype=np.float64)
    asked = np.zeros(n, bool) if requested is None else np.asarray(requested, dtype=bool)
    if f.ndim != 1 or any(x.shape != (n,) for x in (counts, a, conf, asked)):
        raise InvalidInput("first, n_annotations, llm, llm_confidence and requested must be "
                           "1-D arrays of equal length")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise InvalidInput(f"budget must be an integer >= 0; got {budget!r}")
    if not 0 <= min_llm_confidence <= 1:
        raise InvalidInput(f"min_llm_confidence must lie in [0, 1]; got {min_llm_confidence!r}")
    if not isinstance(rng, np.random.Generator):
        raise InvalidInput("rng must be an np.random.Generator")
    open_ = (counts == 1) & ~asked & ~np.isnan(f)
    out: list[SecondAnnotation] = []
    taken = np.zeros(n, bool)

    def add(rows: ArrayLike, reason: Reason) -> None:
        for i in np.asarray(rows, dtype=np.int64):
            if len(out) >= budget:
                return
            if open_[i] and not taken[i]:
                taken[i] = True
                out.append(SecondAnnotation(int(i), reason))

    add(review_positions(f, a, model, llm_confidence=conf, model_confidence=model_confidence),
        "disagrees_with_both")
    with np.errstate(invalid="ignore"):
        confident = np.flatnonzero(~np.isnan(a) & (a != f) & (conf >= min_llm_confidence))
    add(confident[np.argsort(-conf[confident], kind="stable")], "disagrees_with_confident_llm")
    missing = agreement_target - int(np.sum(counts >= 2)) - int(np.sum(asked & (counts < 2)))
    missing -= len(out)
    pool = np.flatnonzero(open_ & ~taken)
    if missing > 0 and pool.size:
        add(np.sort(rng.choice(pool, size=min(missing, pool.size), replace=False)),
            "agreement_sample")
    return out


def plan_second_annotations(aligned: Aligned, *, requested: set[int], budget: int,
                            rng: np.random.Generator, min_llm_confidence: float = 0.9,
                            agreement_target: int = 0) -> list[tuple[int, Reason]]:
    """``(task id, reason)`` for the tasks of ``aligned`` to ask a second annotation for."""
    picked = second_annotation_positions(
        aligned.first, aligned.n_annotations, aligned.llm.labels, aligned.model.labels,
        llm_confidence=aligned.llm.scores, model_confidence=aligned.model.scores,
        requested=np.array([t in requested for t in aligned.task_ids], dtype=bool),
        budget=budget, min_llm_confidence=min_llm_confidence,
        agreement_target=agreement_target, rng=rng)
    return [(aligned.task_ids[p.position], p.reason) for p in picked]


def request_annotations(sdk: LabelStudio, task_id: int, *, total: int = 2,
                        timeout: float = 30.0) -> bool:
    """Make Label Studio serve ``task_id`` until it has ``total`` annotations (another user's).

    Reads the task; when it has fewer than ``total`` annotations, ``PATCH``es ``{"overlap":
    total, "is_labeled": false}`` and returns True; otherwise changes nothing and returns False
    (safe to run twice). Failures raise :class:`LabelStudioUnavailable`.
    """
    if isinstance(total, bool) or not isinstance(total, int) or total < 2:
        raise InvalidInput(f"total must be an integer >= 2; got {total!r}")
    path = f"api/tasks/{int(task_id)}/"
    task = _call(sdk, "GET", path, None, timeout)
    if int(task.get("total_annotations") or 0) >= total:
        return False
    body = _call(sdk, "PATCH", path, {"overlap": total, "is_labeled": False}, timeout)
    if body.get("overlap") != total or body.get("is_labeled") is not False:
        raise LabelStudioUnavailable(
            f"Label Studio request_annotations: task {task_id} answered overlap="
            f"{body.get('overlap')!r}, is_labeled={body.get('is_labeled')!r}",
            detail={"call": "request_annotations", "task": task_id})
    return True


def _call(sdk: LabelStudio, method: str, path: str, payload: dict[str, Any] | None,
          timeout: float) -> dict[str, Any]:
    http = sdk._client_wrapper.httpx_client  # the SDK's client: its base URL, auth and retries
    where = f"Label Studio request_annotations: {method} /{path}"
    try:
        r = http.request(path, method=method, json=payload,
                         request_options=RequestOptions(timeout=timeout))
    except httpx.HTTPError as exc:
        raise LabelStudioUnavailable(f"{where}: {type(exc).__name__}: {exc}",
                                     detail={"call": "request_annotations"}) from exc
    if not 200 <= r.status_code < 300:
        raise LabelStudioUnavailable(f"{where} answered {r.status_code}: {r.text[:300]}",
                                     detail={"call": "request_annotations",
                                             "status": r.status_code})
    try:
        body = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LabelStudioUnavailable(f"{where}: the answer is not a JSON object",
                                     detail={"call": "request_annotations"})
    return body
