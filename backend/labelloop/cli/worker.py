"""``labelloop worker``: run background jobs in a separate process."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from labelloop.cli.common import add_data_dir, settings_from


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker", help="run background jobs (resync, publish, LLM, training) in this process",
        description=(
            "Claim and run jobs from labelloop's job table until stopped (Ctrl-C/SIGTERM). Use "
            "it with `labelloop serve --no-worker` (or LABELLOOP_WORKER_MODE=external) to run "
            "jobs in their own process; several workers may share one database."
        ))
    add_data_dir(p)
    p.add_argument("--threads", type=int, default=None, help="worker threads (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labelloop.jobs.registry import default_handlers
    from labelloop.jobs.worker import WorkerPool
    from labelloop.labelstudio.access import GatewayProvider
    from labelloop.logs import configure_logging
    from labelloop.storage.base import open_storage

    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    storage = open_storage(settings.resolved_database_url)
    pool = WorkerPool(storage, settings, default_handlers(settings),
                      gateways=GatewayProvider(settings), threads=args.threads, name="worker")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    logging.getLogger(__name__).info("worker: %d thread(s) on %s", len(pool.workers),
                                     storage.dialect)
    for line in settings.describe_off():
        logging.getLogger(__name__).info("%s", line)
    pool.start()
    stop.wait()
    pool.stop()
    storage.close()
    return 0
