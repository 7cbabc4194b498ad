"""Which hosts a fetch may reach (SSRF rules), and a transport that connects only to vetted IPs.

* The configured Label Studio origin (scheme, host, port) is always allowed.
* Another host only when ``LABELLOOP_MEDIA_ALLOWED_HOSTS`` lists it (``host`` for any port,
  ``host:port`` for one) or holds ``*``; the presigned URL Label Studio's resolve endpoint
  redirects to is allowed too (the storage an admin configured in Label Studio chose it).
* Link-local and cloud-metadata addresses (169.254.0.0/16, fe80::/10, 100.100.100.200,
  fd00:ec2::254, ``metadata.google.internal``) are refused unless the host is listed by name or
  address (``*`` does not list them), checked on every address the name resolves to.
* :class:`PinnedTransport` resolves the name once, checks the addresses and connects to those
  very addresses (TLS still verifies the name), so a name that resolves differently on a second
  look-up (DNS rebinding) cannot slip past the check. Environment proxies are not used.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

from labelloop.media.urls import Origin, host_port

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128"))


SocketOption = (tuple[int, int, int] | tuple[int, int, bytes | bytearray]
                | tuple[int, int, None, int])


class Refused(Exception):
    """A host or address the rules refuse (not an httpx error: it passes through httpcore)."""


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def blocked_address(ip: str) -> bool:
    """Link-local or metadata, also as an IPv6 form that carries the IPv4 address (mapped,
    6to4, NAT64)."""
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        elif addr.sixtofour is not None:
            addr = addr.sixtofour
        elif addr in NAT64:
            addr = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return any(addr in net for net in BLOCKED_NETWORKS)


@dataclass(frozen=True)
class HostPolicy:
    allowed: tuple[str, ...]          # LABELLOOP_MEDIA_ALLOWED_HOSTS entries
    label_studio: Origin | None

    @property
    def any_host(self) -> bool:
        return "*" in self.allowed

    def listed(self, host: str, port: int) -> bool:
        """Named in the allow-list (``*`` names nothing)."""
        host = host.lower().strip("[]")
        for entry in self.allowed:
            if entry == "*":
                continue
            h, p = host_port(entry)
            if h == host and (p is None or p == port):
                return True
        return False

    def check_url(self, url: httpx.URL, *, presigned: bool) -> None:
        """Raise :class:`Refused` unless a request to ``url`` may be sent (no DNS here)."""
        if url.scheme not in ("http", "https"):
            raise Refused(f"scheme {url.scheme!r} is not fetched")
        origin = Origin.of(url)
        if origin == self.label_studio:
            return
        listed = self.listed(origin.host, origin.port)
        if not (listed or self.any_host or presigned):
            raise Refused(f"host {origin.host}:{origin.port} is not in "
                          "LABELLOOP_MEDIA_ALLOWED_HOSTS")
        if not listed:
            if origin.host.rstrip(".") in METADATA_HOSTS:
                raise Refused(f"{origin.host} is a cloud metadata host (list it to allow it)")
            try:
                literal = ipaddress.ip_address(origin.host)
            except ValueError:
                return
            if blocked_address(str(literal)):
                raise Refused(f"{origin.host} is a link-local/metadata address (list it to "
                              "allow it)")

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return the addresses to connect to; :class:`Refused` when any
        of them is link-local/metadata and the host is neither Label Studio nor listed."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
        trusted = (self.label_studio is not None
                   and host.lower() == self.label_studio.host
                   and port == self.label_studio.port) or self.listed(host, port)
        if not trusted:
            bad = [ip for ip in ips if blocked_address(ip)]
            if bad:
                raise Refused(f"{host} resolves to the link-local/metadata address {bad[0]} "
                              "(list the host to allow it)")
        return ips


class PinnedBackend(httpcore.SyncBackend):
    """Connects to the addresses :meth:`HostPolicy.addresses` vetted, in order."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[SocketOption] | None = None,
                    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for ip in self.policy.addresses(host, port):
            try:
                return super().connect_tcp(ip, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # e.g. ::1 first and the server on 127.0.0.1
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport on an httpcore pool whose network backend is :class:`PinnedBackend`."""

    def __init__(self, policy: HostPolicy, *, max_connections: int,
                 verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(trust_env=False)
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(
            verify=verify, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, max_connections=max_connections,
            max_keepalive_connections=max_connections, keepalive_expiry=5.0,
            network_backend=PinnedBackend(policy))
