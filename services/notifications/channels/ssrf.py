"""Refuse webhook targets inside our own network (SSRF guard), unless configuration allows them.

Checked when a subscription is registered and again before every send, because DNS answers
change. Known gap: the HTTP client resolves the name again after this check, so a DNS answer
that flips between the two lookups (rebinding) is not caught; an egress proxy closes that gap.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class TargetRefused(ValueError):
    """The webhook URL may not be called; the message says why."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _forbidden_reason(address: IPAddress) -> str | None:
    # An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


class AllowList:
    """Hosts (exact, case-insensitive) and CIDR networks that may be called despite the guard."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def check_target(
    url: str,
    allow_list: AllowList | Iterable[str] = (),
    resolver: Resolver = system_resolver,
) -> list[str]:
    """Raise TargetRefused unless `url` is an http(s) URL whose every address may be called.

    Returns the resolved addresses (useful for logs).
    """
    allowed = allow_list if isinstance(allow_list, AllowList) else AllowList(allow_list)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"only http and https webhook URLs are allowed, not {parts.scheme or 'none'!r}")
    host = parts.hostname
    if not host:
        raise TargetRefused(f"{url!r} has no host")
    if parts.username or parts.password:
        raise TargetRefused("webhook URLs may not carry credentials; use the signing secret")
    port = port or (443 if parts.scheme == "https" else 80)
    host_allowed = allowed.allows_host(host)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise TargetRefused(f"host {host!r} does not resolve ({exc})") from None
        if not addresses:
            raise TargetRefused(f"host {host!r} does not resolve")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])  # drop an IPv6 zone id
        reason = _forbidden_reason(address)
        if reason and not (host_allowed or allowed.allows_address(address)):
            shown = host if literal is not None else f"{host} ({address})"
            raise TargetRefused(
                f"webhook target {shown} is a {reason} address; add the host or its network to "
                "the webhook allow-list if this is intended"
            )
    return addresses
