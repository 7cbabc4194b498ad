"""An in-memory Label Studio for unit tests: implements LabelStudioGateway.

It follows the behaviour measured on Label Studio 1.23.2 that labelloop relies on (the real server
is exercised in tests/e2e): predictions are stored per (task, model_version); under "Uncertainty
sampling" ``next_task`` serves the unlabeled task with the lowest score of the project's current
model version; deleting a model version removes its predictions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from labelloop.errors import LabelStudioUnavailable


class FakeGateway:
    def __init__(self) -> None:
        self.projects: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.predictions: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.fail_next: int = 0
        self._ids = itertools.count(1000)
        self.ml_backends: list[dict[str, Any]] = []
        self.unservable: set[int] = set()  # tasks whose pages answer 500 (see iter_tasks)
        self.webhooks: list[dict[str, Any]] = []
        self.lose_answer_next: int = 0  # import_tasks calls that store the tasks, then raise
        # import_tasks refuses (400, storing nothing) any request holding one of these stream keys
        self.refuse_keys: set[str] = set()
        self.imports: list[list[int]] = []  # the task ids each import_tasks call created

    # --- test set-up helpers ---------------------------------------------------------------
    def add_project(self, project_id: int, label_config: str, **fields: Any) -> None:
        self.projects[project_id] = {"id": project_id, "label_config": label_config,
                                     "model_version": "", "sampling": "Sequential sampling",
                                     "title": f"project {project_id}", **fields}

    def add_task(self, project_id: int, task_id: int, data: dict[str, Any]) -> dict[str, Any]:
        task = {"id": task_id, "project": project_id, "data": data, "meta": {},
                "annotations": []}
        self.tasks[task_id] = task
        return task

    def annotate(self, task_id: int, choice: str | None, *, annotation_id: int | None = None,
                 user: int = 1, cancelled: bool = False, from_name: str = "sentiment",
                 updated_at: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
        result = [] if choice is None else [{"from_name": from_name, "to_name": "text",
                                              "type": "choices",
                                              "value": {"choices": [choice]}}]
        ann = {"id": annotation_id or next(self._ids), "task": task_id, "result": result,
               "completed_by": user, "was_cancelled": cancelled, "ground_truth": False,
               "lead_time": 1.5, "updated_at": updated_at,
               "project": self.tasks[task_id]["project"]}
        self.tasks[task_id]["annotations"].append(ann)
        return ann

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if self.fail_next:
            self.fail_next -= 1
            raise LabelStudioUnavailable(f"{call}: Label Studio answered 503")

    # --- LabelStudioGateway ----------------------------------------------------------------
    def get_project(self, project_id: int) -> dict[str, Any]:
        self._check("get_project")
        return dict(self.projects[project_id])

    def iter_tasks(self, project_id: int, *, page_size: int = 500,
                   after_id: int | None = None,
                   upto: int | None = None) -> Iterator[dict[str, Any]]:
        """Pages of ``page_size``; a page holding a task of ``unservable`` answers 500, as Label
        Studio 1.23.2 does for a task whose text holds a lone surrogate."""
        self._check("iter_tasks")
        tasks = [t for t in sorted(self.tasks.values(), key=lambda t: t["id"])
                 if t["project"] == project_id and (after_id is None or t["id"] > after_id)
                 and (upto is None or t["id"] <= upto)]
        for i in range(0, len(tasks), page_size):
            page = tasks[i:i + page_size]
            if any(t["id"] in self.unservable for t in page):
                raise LabelStudioUnavailable("iter_tasks: Label Studio answered 500",
                                             detail={"call": "iter_tasks", "status": 500})
            for t in page:
                yield {**t, "annotations": [dict(a) for a in t["annotations"]]}

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Label Studio 1.23.2's synchronous import: ``data`` and ``meta`` kept as sent, each
        task's ``predictions`` stored under its new id; ids ascending, in request order. With
        ``lose_answer_next`` the tasks are stored and the answer is lost (a timeout or a 502
        after the work was done)."""
        self._check("import_tasks")
        if project_id not in self.projects:
            raise LabelStudioUnavailable(f"import_tasks: project {project_id} answered 404",
                                         detail={"call": "import_tasks", "status": 404})
        refused = [k for b in tasks if (k := b["data"].get("labelloop_stream_key"))
                   in self.refuse_keys]
        if refused:
            raise LabelStudioUnavailable(f"import_tasks: answered 400 for {refused}",
                                         detail={"call": "import_tasks", "status": 400})
        ids: list[int] = []
        for body in tasks:
            task = self.add_task(project_id, next(self._ids), dict(body["data"]))
            task["meta"] = dict(body.get("meta") or {})
            for p in body.get("predictions") or []:
                self.predictions.append({**p, "task": task["id"], "project": project_id})
            ids.append(task["id"])
        self.imports.append(ids)
        if self.lose_answer_next:
            self.lose_answer_next -= 1
            raise LabelStudioUnavailable("import_tasks: timed out waiting for Label Studio")
        return ids

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> int:
        self._check("import_predictions")
        for p in predictions:
            if p["task"] not in self.tasks:
                raise LabelStudioUnavailable(f"import_predictions: unknown task {p['task']}")
            self.predictions.append({**p, "project": project_id})
        return len(predictions)

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        self._check("update_project")
        self.projects[project_id].update(fields)
        return dict(self.projects[project_id])

    def list_model_versions(self, project_id: int) -> dict[str, int]:
        self._check("list_model_versions")
        out: dict[str, int] = {}
        for p in self.predictions:
            if p["project"] == project_id:
                out[p["model_version"]] = out.get(p["model_version"], 0) + 1
        return out

    def delete_model_version(self, project_id: int, version: str) -> None:
        self._check("delete_model_version")
        self.predictions = [p for p in self.predictions
                            if not (p["project"] == project_id and p["model_version"] == version)]

    def next_task(self, project_id: int) -> dict[str, Any] | None:
        self._check("next_task")
        project = self.projects[project_id]
        unlabeled = {t["id"] for t in self.tasks.values()
                     if t["project"] == project_id and not t["annotations"]}
        scored = [p for p in self.predictions if p["project"] == project_id
                  and p["model_version"] == project["model_version"] and p["task"] in unlabeled]
        if not scored:
            return None
        best = min(scored, key=lambda p: (p["score"], p["task"]))
        return dict(self.tasks[best["task"]])

    def list_ml_backends(self, project_id: int) -> list[dict[str, Any]]:
        self._check("list_ml_backends")
        return [dict(b) for b in self.ml_backends if b["project"] == project_id]

    def list_webhooks(self, project_id: int) -> list[dict[str, Any]]:
        self._check("list_webhooks")
        return [dict(h) for h in self.webhooks if h["project"] == project_id]

    def update_webhook(self, webhook_id: int, **fields: Any) -> dict[str, Any]:
        self._check("update_webhook")
        hook = next(h for h in self.webhooks if h["id"] == webhook_id)
        hook.update(fields)
        return dict(hook)

    def request_annotations(self, task_id: int, *, total: int = 2) -> bool:
        self._check("request_annotations")
        task = self.tasks[task_id]
        if len(task["annotations"]) >= total:
            return False
        task["overlap"] = total
        return True
