"""What only the API process sees: its HTTP requests, and how fast it acknowledges webhooks.

:class:`AppMetrics` owns the app's :class:`~prometheus_client.CollectorRegistry`; ``create_app``
builds one per app (never the process-global default registry, so two apps in one process, as in
the tests, never share or clash).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, Info

from labelloop import __version__

# Label Studio gives up on a webhook after a few seconds; acknowledgements take milliseconds.
WEBHOOK_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # the handler label of a request no route answered (404, or refused
# before routing: 401 without credentials, 413 by Content-Length)


class AppMetrics:
    """The app's registry and the in-process metrics in it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        Info("labelloop", "The labelloop version serving the API",
             registry=self.registry).info({"version": __version__})
        self.requests = Counter(
            "labelloop_http_requests", "HTTP requests answered, by route template and status",
            ["method", "handler", "status"], registry=self.registry)
        self.webhook_seconds = Histogram(
            "labelloop_webhook_duration_seconds",
            "Time from receiving a POST /webhook to the end of its answer",
            buckets=WEBHOOK_BUCKETS, registry=self.registry)

    def observe(self, method: str, handler: str, status: int, seconds: float) -> None:
        """Record one answered request; ``handler`` is its route's path template."""
        self.requests.labels(method, handler, str(status)).inc()
        if method == "POST" and handler == "/webhook":
            self.webhook_seconds.observe(seconds)
