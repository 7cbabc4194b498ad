"""Clean-up: delete superseded versions' predictions from Label Studio, off the critical path.

A published queue is a model version in Label Studio; every retrain publishes a new one, so the
old ones are deleted (each holds one prediction per ranked task). What may go:

- versions labelloop created: its queue versions (``<prefix>-N``) and the stray ``llm-*``
  versions Label Studio stored from ``/predict`` answers before the first publish (or from an
  older labelloop that answered under the LLM's version);
- never the published version, nor the version Label Studio's project shows, read from Label
  Studio before each delete (a settings save or a user may have set the project back to an
  older version: deleting it would leave the project with no version and no pre-labels);
- nothing while the project shows a version without predictions (the ML backend's title, as
  right after registration): Label Studio 1.23.2 then resets ``model_version`` to null on any
  delete (docs/label-studio-findings.md, fact 10);
- never a version labelloop did not create.

One version at a time; when a newer queue is on its way, stop and come back later (one delete
holds a SQLite Label Studio for ~3.4 ms per prediction: 68 s for 20,000).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from labelloop.jobs.context import JobContext
from labelloop.jobs.triggers import check_version_spec
from labelloop.labelstudio.drift import created_by_labelloop, needs_check
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.labelstudio.publish import cleanup_spec, job_gateway
from labelloop.labelstudio.tail import queue_work_waiting

log = logging.getLogger(__name__)


def deletable_versions(listed: Mapping[str, int], *, published: str | None, shown: str | None,
                       prefix: str) -> list[str]:
    """The versions of ``listed`` clean-up may delete, in the order listed."""
    keep = {published, shown}
    return [v for v in listed if created_by_labelloop(v, prefix) and v not in keep]


def _shown(gateway: LabelStudioGateway, project_id: int) -> str | None:
    return gateway.get_project(project_id).get("model_version") or None


def handle_cleanup(ctx: JobContext) -> None:
    """Job handler: delete the versions :func:`deletable_versions` names, one at a time."""
    pid, gateway = job_gateway(ctx)
    prefix = ctx.settings.model_version_prefix
    with ctx.storage.read() as tx:
        project = tx.get_project(pid)
    published = project.published_version if project else None
    listed = gateway.list_model_versions(pid)
    for version in deletable_versions(listed, published=published, shown=None, prefix=prefix):
        with ctx.storage.read() as tx:
            busy = queue_work_waiting(tx, pid)
        if busy:
            log.info("project %s: clean-up postponed: %s", pid, busy)
            ctx.enqueue(cleanup_spec(pid, ctx.settings))
            return
        shown = _shown(gateway, pid)  # read before each delete: a user may have just moved it
        if shown and not listed.get(shown):
            log.info("project %s: clean-up skipped: Label Studio shows %r, which has no "
                     "predictions (a delete would reset it)", pid, shown)
            return
        if needs_check(project, shown):
            ctx.enqueue(check_version_spec(pid))
        if version == shown:
            log.info("project %s: %s kept: it is the version Label Studio shows", pid, version)
            continue
        gateway.delete_model_version(pid, version)
        with ctx.storage.write() as tx:
            tx.mark_version(pid, version, cleaned=True)
        log.info("project %s: deleted superseded predictions of %s", pid, version)
