"""Prometheus metrics, served by ``GET /metrics`` (see docs/architecture.md, "Metrics").

Two sources, because labelloop runs as one API process and any number of workers sharing a
database:

* :mod:`.database` — jobs, LLM usage and model versions, read from the database at scrape time
  by a custom collector, so they count the work of every process;
* :mod:`.requests` — the API process's own requests and webhook latency, counted in memory in the
  app's own registry.
"""

from labelloop.metrics.database import StorageCollector
from labelloop.metrics.requests import AppMetrics

__all__ = ["AppMetrics", "StorageCollector"]
