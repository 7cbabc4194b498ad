"""What the queue aims at and what is auto-accepted, in plain words, from the newest retrain.

Every retrain stores in its version's lineage the queue ``objective`` it chose and the
``accept`` rule it applied (:mod:`labelloop.loop.plan_dataset`); :func:`queue_aim` reads the
newest of them for ``/api/projects/{id}/status`` and ``labelloop status`` (pure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from labelloop.storage.records import ModelVersion


def _objective_words(o: Mapping[str, object]) -> str:
    aim = "removing machine errors" if o.get("objective") == "dataset" else "improving the model"
    words = f"the queue aims at {aim}"
    if o.get("applied") is False:
        words = "the queue keeps its cold-start seed set first"
    return f"{words} ({o.get('reason')})" if o.get("reason") else words


def _class_words(accept: Mapping[str, object]) -> list[dict[str, object]]:
    raw = accept.get("classes")
    names = accept.get("class_names")
    out: list[dict[str, object]] = []
    for c in raw if isinstance(raw, list) else []:
        if not isinstance(c, Mapping):
            continue
        k = c.get("label")
        name = names[k] if isinstance(names, Sequence) and isinstance(k, int) \
            and 0 <= k < len(names) else str(k)
        out.append({"label": name, "state": c.get("state"), "threshold": c.get("threshold"),
                    "words": f"{name}: {c.get('reason')}"})
    return out


def _accept_words(accept: Mapping[str, object], classes: list[dict[str, object]]) -> str:
    if not accept.get("enabled"):
        return f"auto-accept is off ({accept.get('reason') or 'LABELLOOP_ACCEPT_PRECISION unset'})"
    where = "moved to the end of the queue" if accept.get("queue") == "end" else \
        "taken out of the queue"
    states = "; ".join(
        f"{c['label']} accepted where p_correct >= {c['threshold']}" if c["state"] == "accepting"
        else f"{c['label']} not accepted ({c['state']})" for c in classes)
    return (f"auto-accept at precision {accept.get('target')}: {accept.get('accepted', 0)} "
            f"task(s) {where}" + (f"; {states}" if states else ""))


def queue_aim(versions: Iterable[ModelVersion]) -> dict[str, object]:
    """The newest retrain's ``objective`` and ``accept`` with a one-line ``message`` (None
    fields before the first retrain that recorded them)."""
    newest: tuple[str, Mapping[str, object], Mapping[str, object]] | None = None
    for v in versions:
        o, a = (v.lineage or {}).get("objective"), (v.lineage or {}).get("accept")
        if v.kind == "retrain" and isinstance(o, Mapping):
            newest = (v.version, o, a if isinstance(a, Mapping) else {})
    if newest is None:
        return {"version": None, "objective": None, "accept": None,
                "message": "no retrain has chosen a queue objective yet"}
    version, o, accept = newest
    classes = _class_words(accept)
    summary = {k: accept.get(k) for k in ("enabled", "target", "queue", "accepted", "reason")}
    return {"version": version,
            "objective": {k: o.get(k) for k in ("objective", "setting", "reason", "applied",
                                                "model_gain", "error_gain")},
            "accept": {**summary, "classes": classes},
            "message": f"{_objective_words(o)}; {_accept_words(accept, classes)}"}
