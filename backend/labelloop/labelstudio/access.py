"""Which Label Studio (URL and key) labelloop calls for a project.

Label Studio's URL and key come from labelloop's settings. The ``hostname``/``access_token`` that
a ``/setup`` body carries are used only when ``LABELLOOP_TRUST_SETUP_CREDENTIALS`` is on, because
anyone who can POST /setup could otherwise point labelloop at a server of their choosing.
"""

from __future__ import annotations

from collections.abc import Callable

from labelloop.errors import PermanentJobError
from labelloop.labelstudio.gateway import LabelStudioGateway
from labelloop.settings import Settings
from labelloop.storage.base import Storage
from labelloop.storage.records import Project

GatewayFactory = Callable[[str, str, float], LabelStudioGateway]


def _sdk_factory(url: str, key: str, timeout: float) -> LabelStudioGateway:
    from labelloop.labelstudio.client import make_gateway

    return make_gateway(url, key, timeout=timeout)


class GatewayProvider:
    def __init__(self, settings: Settings, factory: GatewayFactory | None = None) -> None:
        self.settings = settings
        self.factory = factory or _sdk_factory

    def credentials(self, project: Project | None) -> tuple[str, str] | None:
        s = self.settings
        if s.label_studio_url and s.label_studio_api_key:
            return s.label_studio_url, s.label_studio_api_key.get_secret_value()
        if s.trust_setup_credentials and project and project.ls_hostname and project.ls_token:
            return project.ls_hostname.rstrip("/"), project.ls_token
        return None

    def for_project(self, project: Project | None) -> LabelStudioGateway | None:
        creds = self.credentials(project)
        if creds is None:
            return None
        return self.factory(creds[0], creds[1], self.settings.label_studio_timeout_s)

    def why_not(self) -> str:
        if self.settings.trust_setup_credentials:
            return ("no Label Studio credentials: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, "
                    "or let Label Studio send them in /setup (trusted by settings)")
        return "no Label Studio credentials: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"


def project_and_gateway(storage: Storage, gateways: GatewayProvider,
                        project_id: int) -> tuple[Project, LabelStudioGateway]:
    """For a job that calls Label Studio: the project and its gateway, or a
    :class:`PermanentJobError` saying why there is none (retrying would not help)."""
    with storage.read() as tx:
        project = tx.get_project(project_id)
    if project is None:
        raise PermanentJobError(f"project {project_id} is not known to labelloop")
    gateway = gateways.for_project(project)
    if gateway is None:
        raise PermanentJobError(gateways.why_not())
    return project, gateway
