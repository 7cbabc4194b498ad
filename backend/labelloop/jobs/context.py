"""What a job handler receives: the job, storage, settings, and the ways out it may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

    def progress(self, **info: Any) -> None:
        """Record progress (shown in the status endpoint) and keep the lease alive."""
        with self.storage.write() as tx:
            tx.extend_lease(self.job.id, lease_s=self.settings.job_lease_s, progress=info)

    def enqueue(self, *specs: JobSpec) -> list[int]:
        with self.storage.write() as tx:
            ids = [tx.enqueue(s)[0] for s in specs]
        self.wake()
        return ids


Handler = Callable[[JobContext], None]
