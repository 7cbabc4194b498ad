"""``labelloop healthcheck``: exit 0 when this machine's ``labelloop serve`` answers ``/health``.

The Dockerfile's HEALTHCHECK runs it inside the container. It reads the same settings as
``serve`` (port, basic auth), so the check keeps working with basic auth on, without putting the
password on a command line. It runs as ``python -m labelloop.cli.healthcheck`` there: the
``labelloop`` command imports every sub-command (seconds on a loaded machine), this module only
the settings.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request

from labelloop.cli.common import settings_from
from labelloop.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "healthcheck", help="exit 0 if the local server answers /health (for Docker)",
        description="GET /health on the local `labelloop serve` (LABELLOOP_HOST/_PORT), with "
                    "the configured basic auth; exit 0 when it answers UP, 1 otherwise.")
    add_arguments(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    p.set_defaults(func=run)


#: No proxy: an HTTP_PROXY in the environment would get the basic-auth password and answer the
#: check in the local server's stead.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def health_url(settings: Settings) -> str:
    """The URL of ``/health`` on the interface ``serve`` listens on (loopback for a wildcard)."""
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/health"


def check(settings: Settings, *, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether ``/health`` answers 200 with status UP, and what was seen."""
    request = urllib.request.Request(health_url(settings))
    if settings.basic_auth_user:
        password = settings.basic_auth_password.get_secret_value() \
            if settings.basic_auth_password else ""
        token = base64.b64encode(f"{settings.basic_auth_user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with _DIRECT.open(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return False, f"{request.full_url}: HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{request.full_url}: {exc}"
    up = isinstance(body, dict) and body.get("status") == "UP"
    return up, f"{request.full_url}: {body.get('status') if isinstance(body, dict) else body}"


def run(args: argparse.Namespace) -> int:
    ok, seen = check(settings_from(args), timeout=args.timeout)
    print(seen, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m labelloop.cli.healthcheck")
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
