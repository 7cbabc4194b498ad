"""``labelloop status``: what labelloop knows and what its jobs are doing."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from labelloop.cli.common import add_data_dir, settings_from

if TYPE_CHECKING:
    from labelloop.storage.records import ModelVersion


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status", help="show projects, jobs and what is switched off",
        description="Read labelloop's database and print its projects, job counts and the "
                    "settings that switch features off. Works while the server runs.")
    add_data_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def _signals(versions: list[ModelVersion]) -> dict[str, Any]:
    """The stopping signal and the queue's aim, from a project's stored versions."""
    from labelloop.quality.distillation import distillation
    from labelloop.quality.queue_aim import queue_aim
    from labelloop.quality.stopping import retrain_points, stopping_signal

    return {"stopping": stopping_signal(retrain_points(versions)).to_json(),
            "queue_aim": queue_aim(versions), "llm_distillation": distillation(versions)}


def run(args: argparse.Namespace) -> int:
    from labelloop.jobs.types import JobStatus
    from labelloop.storage.base import open_storage
    from labelloop.stream.status import stream_lines, stream_status

    settings = settings_from(args)
    storage = open_storage(settings.resolved_database_url)
    with storage.read() as tx:
        projects: list[dict[str, Any]] = [{"id": p.id, "title": p.title, "supported": p.supported,
                     "reason": p.unsupported_reason, "tasks": tx.count_tasks(p.id),
                     "annotations": tx.count_annotations(p.id),
                     "published_version": p.published_version,
                     "last_synced_at": p.last_synced_at, "sync_error": p.sync_error,
                     "skipped": tx.skip_summary(p.id).to_json(),
                     "stream": stream_status(tx, p.id, settings),
                     **_signals(tx.list_model_versions(p.id))}
                    for p in tx.list_projects()]
        jobs = tx.job_counts()
        dead = [(j.id, j.kind.value, j.project_id, j.last_error)
                for j in tx.list_jobs(status=JobStatus.DEAD, limit=5)]
    storage.close()
    if args.json:
        print(json.dumps({"projects": projects, "jobs": jobs, "off": settings.describe_off()},
                         indent=2))
        return 0
    print(f"database: {storage.dialect}  ({settings.data_dir})")
    for line in settings.describe_off():
        print(f"  off: {line}")
    print(f"projects: {len(projects)}")
    for p in projects:
        state = "ok" if p["supported"] else f"unsupported: {p['reason']}"
        print(f"  #{p['id']} {p['title'] or ''}  tasks={p['tasks']} "
              f"annotations={p['annotations']} queue={p['published_version'] or '-'}  {state}")
        print(f"      stopping signal: {p['stopping']['message']}")  # do labels still pay
        print(f"      queue: {p['queue_aim']['message']}")  # objective, auto-accept
        print(f"      local model: {p['llm_distillation']['message']}")  # LLM labels used?
        for line in stream_lines(p["stream"]):  # received, selected, budget, drift
            print(f"      {line}")
        if p["sync_error"]:
            print(f"      last resync failed: {p['sync_error']}")
        if p["skipped"]["count"]:  # tasks a job skipped instead of failing on them
            print(f"      {p['skipped']['count']} task(s) skipped: " + "; ".join(
                f"{r['reason']} ({r['job']}: {r['tasks']})" for r in p["skipped"]["reasons"]))
    print("jobs:")
    for kind, counts in sorted(jobs.items()):
        print(f"  {kind:18s} " + "  ".join(f"{s}={n}" for s, n in sorted(counts.items())))
    for jid, kind, pid, err in dead:
        print(f"  dead job {jid} {kind} (project {pid}): {err}")
    return 0
