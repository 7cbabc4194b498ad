"""Whether the local model learns from the LLM's labels, in plain words, from the newest retrain.

Every classification retrain records in its version's lineage ``llm_distillation``
(:class:`labelloop.models.distill.DistillChoice` as JSON: used or not, the cross-validated
accuracies on human labels it chose on, the LLM rows and their weight); :func:`distillation`
reads the newest for ``/api/projects/{id}/status`` and ``labelloop status`` (pure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from labelloop.storage.records import ModelVersion


def _pct(x: object) -> str:
    return f"{x:.1%}" if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def distillation_words(d: Mapping[str, object]) -> str:
    """One sentence on a retrain's choice."""
    cv = (f"cross-validated accuracy on human labels {_pct(d.get('cv_human_only'))} alone, "
          f"{_pct(d.get('cv_with_llm'))} with the LLM's labels")
    if not d.get("used"):
        return f"the local model learns from human labels only: {d.get('reason')}"
    w = d.get("weight")
    weight = f" (weight {w:.2f} each; a human label 1)" if isinstance(w, float) else ""
    return (f"the local model also learns from the LLM's labels of {d.get('n_llm')} unreviewed "
            f"task(s){weight}: {cv}")


def distillation(versions: Iterable[ModelVersion]) -> dict[str, object]:
    """The newest retrain's ``llm_distillation`` with a one-line ``message``."""
    newest: tuple[str, Mapping[str, object]] | None = None
    for v in versions:
        d = (v.lineage or {}).get("llm_distillation")
        if v.kind == "retrain" and isinstance(d, Mapping):
            newest = (v.version, d)
    if newest is None:
        return {"version": None, "llm_distillation": None,
                "message": "no retrain has weighed the LLM's labels yet (classification "
                           "projects with LLM labels only)"}
    version, d = newest
    return {"version": version, "llm_distillation": dict(d), "message": distillation_words(d)}
