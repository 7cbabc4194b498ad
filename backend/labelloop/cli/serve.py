"""``labelloop serve``: run the ML backend that Label Studio connects to."""

from __future__ import annotations

import argparse
from typing import Any

from labelloop.cli.common import add_data_dir, settings_from
from labelloop.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="run the ML backend (HTTP) for Label Studio",
        description=(
            "Serve the Label Studio ML backend protocol (/health, /setup, /predict, /webhook, "
            "/versions) and labelloop's status API. In Label Studio open Settings -> Model -> "
            "Connect Model and enter this server's URL (e.g. http://localhost:9090). "
            "Defaults need no configuration: SQLite in --data-dir and an in-process job worker. "
            "Set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY so labelloop can resync and order the "
            "queue, and OPENAI_BASE_URL/OPENAI_API_KEY + LABELLOOP_LLM_MODEL for LLM pre-labels. "
            "Without basic auth (LABELLOOP_BASIC_AUTH_USER/_PASSWORD) labelloop's own API, "
            "dashboard and /metrics answer loopback clients only (LABELLOOP_OPEN_API=true or "
            "LABELLOOP_API_ALLOWED_NETWORKS open them); the protocol endpoints answer everyone."
        ))
    p.add_argument("--host", default=None, help="interface to bind (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=None, help="port (default 9090)")
    add_data_dir(p)
    p.add_argument("--no-worker", action="store_true",
                   help="do not run jobs in this process (run `labelloop worker` instead)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from labelloop.api.app import create_app
    from labelloop.logs import configure_logging

    extra = {"host": args.host, "port": args.port}
    if args.no_worker:
        extra["worker_mode"] = "external"
    settings = settings_from(args, **extra)
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    uvicorn.run(app, **uvicorn_options(settings))
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How ``serve`` runs uvicorn. X-Forwarded-For is believed only from the proxies
    LABELLOOP_TRUSTED_PROXIES names (uvicorn's own default trusts any loopback client): the
    client that the access rules see is the TCP peer otherwise."""
    return {"host": settings.host, "port": settings.port, "log_config": None,
            "access_log": False, "timeout_graceful_shutdown": 10,
            "proxy_headers": bool(settings.trusted_proxies),
            "forwarded_allow_ips": list(settings.trusted_proxies) or None}
