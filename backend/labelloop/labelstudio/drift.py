"""Model version drift: Label Studio's project showing another version than labelloop published.

Label Studio serves the queue and shows pre-labels only for ``project.model_version``. Its
Annotation settings page lists every version in a dropdown, and saving the page writes the one
selected: after a newer version was published, an ordinary save can set the project back to an
older ``labelloop-N`` (or to a stray ``llm-*`` version). labelloop notices it from the
PROJECT_UPDATED webhook (:mod:`labelloop.events.apply`) and from every resync
(:mod:`labelloop.labelstudio.sync`): both queue one ``check_version`` job, which runs after any
retrain or publish of the project (same serial key: a publish's own PATCH is never taken for a
drift), reads the project from Label Studio and acts on what it shows:

- the published version: nothing to do (an earlier drift is marked resolved);
- nothing (Label Studio resets ``model_version`` when its version's predictions are deleted):
  restored, whatever ``model_version_drift`` says;
- another version labelloop created (``<prefix>-N``, ``llm-*``): restored to the published
  version under ``model_version_drift = "restore"`` (the default); left as the user chose under
  ``"follow"`` (until labelloop publishes a newer queue);
- a version labelloop did not create (the user's own predictions, the ML backend's title):
  reported, never changed.
- a newer ``<prefix>-N`` than the published one (a publish switched Label Studio, then failed
  before recording it; its retry finishes the job): reported, not switched back.

When the published version is no longer in Label Studio, the project cannot be switched back to
it (Label Studio refuses a version without predictions): a retrain is queued, which publishes a
new one. The drift is kept on the project (``version_drift``) for /status and the dashboard:
what Label Studio showed, what labelloop had published, when it was first and last seen, what
was done, and when it was resolved. Clean-up (:mod:`labelloop.labelstudio.cleanup`) never
deletes the version Label Studio shows.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Literal

from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import retrain_spec
from labelloop.labelstudio.access import project_and_gateway
from labelloop.storage.base import Tx
from labelloop.storage.records import Project

log = logging.getLogger(__name__)
Action = Literal["none", "restore", "follow", "report", "ahead"]
LLM_PREFIX = "llm-"
UNCERTAINTY_SAMPLING = "Uncertainty sampling"


# the LLM's versions as labelloop names them (llm/labeler.py: ``llm-<model>-p<prompt hash>``);
# not any ``llm-*``: a user's own predictions are often named so (``llm-v2``), and clean-up
# deletes what this matches
LLM_VERSION = re.compile(re.escape(LLM_PREFIX) + r".+-p[0-9a-f]+")


def created_by_labelloop(version: str | None, prefix: str) -> bool:
    """A version labelloop emits: its queue versions (``<prefix>-N``) and the LLM's
    (``llm-<model>-p<hash>``, from ``/predict`` answers)."""
    if not version:
        return False
    return version.startswith(f"{prefix}-") or LLM_VERSION.fullmatch(version) is not None


def _number(version: str | None, prefix: str) -> int | None:
    m = re.fullmatch(rf"{re.escape(prefix)}-(\d+)(?:\+.*)?", version or "")
    return int(m.group(1)) if m else None


def drift_action(shown: str | None, published: str | None, *, prefix: str,
                 mode: Literal["restore", "follow"]) -> Action:
    """What to do about Label Studio showing ``shown`` while labelloop published ``published``.
    ``ahead``: a newer labelloop version than the one recorded as published (a publish that
    switched Label Studio but failed before recording it: its retry finishes the switch)."""
    if not published or shown == published:
        return "none"
    if not shown:
        return "restore"
    if created_by_labelloop(shown, prefix):
        n, p = _number(shown, prefix), _number(published, prefix)
        if n is not None and p is not None and n > p:
            return "ahead"
        return "restore" if mode == "restore" else "follow"
    return "report"


def needs_check(project: Project | None, shown: str | None) -> bool:
    """Whether ``shown`` (from a webhook or a resync) may be a drift worth a check job: not
    when it is the published version (unless a drift is still open: the check resolves it, e.g.
    after the user set the project back by hand), nor a drift already seen and left as it is."""
    if project is None or not project.published_version:
        return False
    d = project.version_drift or {}
    if (shown or None) == project.published_version:
        return bool(d) and d.get("resolved_at") is None
    known = d.get("resolved_at") is None and d.get("shows") == (shown or None) \
        and d.get("published") == project.published_version
    return not (known and d.get("action") in ("follow", "report"))


def record_drift(tx: Tx, project: Project, shown: str | None, action: Action | str, *,
                 at: float) -> dict[str, Any] | None:
    """Store what Label Studio shows and the drift record (``None`` action: no drift now)."""
    before = project.version_drift
    active = before is not None and before.get("resolved_at") is None
    if action == "none":
        drift = {**before, "resolved_at": at} if active and before else before
    elif active and before and before.get("shows") == shown \
            and before.get("published") == project.published_version:
        drift = {**before, "last_seen_at": at, "action": action}
    else:
        drift = {"shows": shown, "published": project.published_version, "seen_at": at,
                 "last_seen_at": at, "action": action, "resolved_at": None}
    tx.save_project(project.id, model_version=shown, version_drift=drift)
    return drift


def describe(drift: dict[str, Any] | None) -> dict[str, Any] | None:
    """The drift as /status reports it (``active``: not resolved yet)."""
    if not drift:
        return None
    return {**drift, "active": drift.get("resolved_at") is None}


def handle_check_version(ctx: JobContext) -> None:
    """Job handler: compare the project's ``model_version`` in Label Studio with the published
    one, record it, and restore the published version when the rules above say so."""
    pid = ctx.project_id()
    project, gateway = project_and_gateway(ctx.storage, ctx.gateways, pid)
    remote = gateway.get_project(pid)
    shown = remote.get("model_version") or None
    s = ctx.settings
    action = drift_action(shown, project.published_version, prefix=s.model_version_prefix,
                          mode=s.model_version_drift)
    now = time.time()
    if action != "restore":
        with ctx.storage.write() as tx:
            record_drift(tx, project, shown, action, at=now)
        if action != "none":
            why = {"follow": "left as the user chose", "report": "not labelloop's",
                   "ahead": "a newer publish not recorded yet"}[action]
            log.warning("project %s: Label Studio shows model version %r, labelloop published "
                        "%r (%s)", pid, shown, project.published_version, why)
        return
    published = project.published_version
    if not gateway.list_model_versions(pid).get(published or "", 0):
        with ctx.storage.write() as tx:
            record_drift(tx, project, shown, "republish", at=now)
            tx.enqueue(retrain_spec(pid, s, delay_s=0.0))
        log.warning("project %s: Label Studio shows %r and the published %r is gone from it: "
                    "a retrain publishes a new version", pid, shown, published)
        return
    fields: dict[str, Any] = {"model_version": published}
    if s.set_uncertainty_sampling and remote.get("sampling") != UNCERTAINTY_SAMPLING:
        fields["sampling"] = UNCERTAINTY_SAMPLING
    gateway.update_project(pid, **fields)
    with ctx.storage.write() as tx:
        drift = record_drift(tx, project, shown, "restored", at=now)
        tx.save_project(pid, model_version=published,
                        version_drift={**(drift or {}), "resolved_at": time.time()})
    log.warning("project %s: Label Studio showed model version %r; switched back to %r", pid,
                shown, published)
