"""What a job handler receives: the job, storage, settings, and the ways out it may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labelloop.errors import PermanentJobError
from labelloop.jobs.types import Job, JobSpec
from labelloop.labelstudio.access import GatewayProvider
from labelloop.loop.resources import Resources
from labelloop.settings import Settings
from labelloop.storage.base import Storage


@dataclass
class JobContext:
    job: Job
    storage: Storage
    settings: Settings
    gateways: GatewayProvider
    wake: Callable[[], None]
    resources: Resources

    def project_id(self) -> int:
        """The job's project; a job of a per-project kind without one can never succeed."""
        if self.job.project_id is None:
            raise PermanentJobError(f"{self.job.kind.value} job without a project id")
        return self.job.project_id

    def progress(self, **info: Any) -> None:
        """Record progress (shown in the status endpoint) and keep the lease alive."""
        with self.storage.write() as tx:
            tx.extend_lease(self.job.id, lease_s=self.settings.job_lease_s, progress=info,
                            owner=self.job.locked_by)

    def enqueue(self, *specs: JobSpec) -> list[int]:
        with self.storage.write() as tx:
            ids = [tx.enqueue(s)[0] for s in specs]
        self.wake()
        return ids


Handler = Callable[[JobContext], None]
