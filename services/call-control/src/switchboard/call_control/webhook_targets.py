"""Where result webhooks may go: no request forgery against the platform's own network.

A webhook URL is given by API clients, so call-control must not become a way to reach what only it can reach:
the URL must be `https` (plain `http` only when a setting allows it), carry no credentials, and its host must
resolve to public addresses only: loopback, private, link-local (the cloud metadata service at
169.254.169.254), shared, reserved and multicast addresses are refused, unless the host is on an allow-list.
The addresses are checked again when each request connects (`GuardedResolver`), so a name that resolved to a
public address when the call was placed cannot be re-pointed at an internal one later (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from switchboard.common.errors import ErrorCategory, SwitchboardError

MAX_URL_LENGTH = 2048


class WebhookTargetRefused(SwitchboardError):
    """A webhook URL that call-control will not send to (the reason says why); retrying cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"webhook_url: {reason}", category=ErrorCategory.INVALID_INPUT, code="invalid_webhook_url"
        )


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IpAddress) -> bool:
    """Whether `address` is a public unicast address (IPv4-mapped IPv6 addresses are judged as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class WebhookTargetPolicy:
    """Checks webhook URLs against the scheme rule, the address rule and the allow-list."""

    def __init__(self, *, allow_http: bool = False, allowed_hosts: Iterable[str] = ()) -> None:
        self.allow_http = allow_http
        self.allowed_hosts = frozenset(host.lower().strip("[]") for host in allowed_hosts)

    def parse(self, url: str) -> SplitResult:
        """The URL's parts if its form is acceptable; raises `WebhookTargetRefused`."""
        if len(url) > MAX_URL_LENGTH:
            raise WebhookTargetRefused(f"longer than {MAX_URL_LENGTH} characters")
        if not url.isascii() or any(ch.isspace() or ord(ch) < 32 for ch in url):
            raise WebhookTargetRefused("must be an ASCII URL without spaces or control characters")
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise WebhookTargetRefused(f"must be an {' or '.join(schemes)} URL")
        if parts.username is not None or parts.password is not None:
            raise WebhookTargetRefused("must not carry credentials (the signature authenticates us)")
        if not parts.hostname:
            raise WebhookTargetRefused("has no host")
        try:
            parts.port  # noqa: B018  # raises for a port out of range
        except ValueError as exc:
            raise WebhookTargetRefused("has an invalid port") from exc
        return parts

    def host_allowed(self, host: str) -> bool:
        """Whether `host` is on the allow-list (its addresses are then not checked)."""
        return host.lower().strip("[]") in self.allowed_hosts

    async def check(self, url: str) -> None:
        """Refuse `url` (`WebhookTargetRefused`) unless it is well formed and its host resolves to public addresses."""
        parts = self.parse(url)
        host = parts.hostname or ""
        if self.host_allowed(host):
            return
        try:
            addresses = await resolve(host)
        except OSError as exc:
            raise WebhookTargetRefused(f"its host {host!r} does not resolve") from exc
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise WebhookTargetRefused(
                f"its host {host!r} resolves to a non-public address ({refused[0]}); "
                "list the host in CALL_CONTROL_RESULT_WEBHOOK_ALLOWED_HOSTS to allow it"
            )


async def resolve(host: str) -> list[IpAddress]:
    """Every address `host` resolves to (a literal address resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing non-public addresses of hosts that are not on the allow-list."""

    def __init__(self, policy: WebhookTargetPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of `host`; raises `OSError` when one of them is not public (and `host` not allowed)."""
        results = await self._inner.resolve(host, port, family)
        if self._policy.host_allowed(host):
            return results
        for result in results:
            if not is_public(ipaddress.ip_address(result["host"])):
                raise OSError(f"{host} resolves to a non-public address")
        return results

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()
