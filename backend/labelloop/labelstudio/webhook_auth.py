"""Making Label Studio's webhooks pass labelloop's basic auth.

Label Studio sends ``/predict``, ``/setup`` and *Start Training* with the basic auth the backend
was registered with, but the webhook it creates for the backend carries no auth header, so with
basic auth on every annotation event would be refused (and, since Label Studio never re-sends a
webhook, lost until a resync). labelloop therefore sets the header on the webhooks that point at
its own ``/webhook`` URL, as registered in the project's ML backends.
"""

from __future__ import annotations

import base64
import logging

from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.settings import Settings

log = logging.getLogger(__name__)


def basic_auth_header(settings: Settings) -> str | None:
    if not settings.basic_auth_user:
        return None
    password = settings.basic_auth_password.get_secret_value() \
        if settings.basic_auth_password else ""
    token = base64.b64encode(f"{settings.basic_auth_user}:{password}".encode()).decode()
    return f"Basic {token}"


def ensure_webhook_auth(gateway: LabelStudioGateway, project_id: int,
                        settings: Settings) -> int:
    """Set the Authorization header on the project's webhooks to labelloop; return how many
    were changed (0 when basic auth is off or they are already right)."""
    header = basic_auth_header(settings)
    if header is None:
        return 0
    ours = {b["url"].rstrip("/") + "/webhook" for b in gateway.list_ml_backends(project_id)
            if isinstance(b.get("url"), str)}
    changed = 0
    for hook in gateway.list_webhooks(project_id):
        if hook.get("url") not in ours:
            continue
        headers = dict(hook.get("headers") or {})
        if headers.get("Authorization") == header:
            continue
        headers["Authorization"] = header
        gateway.update_webhook(int(hook["id"]), headers=headers)
        changed += 1
    if changed:
        log.info("project %s: set basic auth on %d webhook(s) to labelloop", project_id, changed)
    return changed
