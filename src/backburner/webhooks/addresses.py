"""Where a webhook may go: public addresses only, unless the operator allow-lists others.

A job's webhook URL is the submitter's choice, and the server sends requests to it: without
this check anyone who can submit could make the server call its own admin ports, the cloud
metadata service (169.254.169.254) or the office network (server-side request forgery).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

__all__ = ["AddressRefused", "Allowance", "check_url", "resolve_allowed"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Longest accepted webhook URL.
MAX_URL_LENGTH = 2048


class AddressRefused(ValueError):
    """The URL is malformed, does not resolve, or resolves to an address not allowed."""


class Allowance:
    """The operator's allow-list: networks (``127.0.0.0/8``, ``::1``) and host names."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks: list[IpNetwork] = []
        self.hosts: set[str] = set()
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    def permits(self, host: str, address: IpAddress) -> bool:
        """Public addresses always; others only when their network or host is listed."""
        if host.lower().rstrip(".") in self.hosts:
            return True
        if any(address in network for network in self.networks):
            return True
        return _public(address)


def _public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_url(url: str) -> tuple[str, int]:
    """The host and port of a well-formed ``http(s)`` URL, else `AddressRefused` saying why."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("must start with http:// or https://")
    if not parts.hostname:
        raise AddressRefused("has no host")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("must not carry a user name or password")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise AddressRefused("must not contain spaces or control characters")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve_allowed(url: str, allowance: Allowance) -> Sequence[IpAddress]:
    """Resolve the URL's host; every address must be allowed (one bad one refuses it all, as
    the connection may go to any of them)."""
    host, port = check_url(url)
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: Sequence[IpAddress] = [literal]
    else:
        addresses = await _lookup(host, port)
    for address in addresses:
        if not allowance.permits(host, address):
            raise AddressRefused(
                f"resolves to {address}, a private, loopback or link-local address "
                "(allow it with BACKBURNER_WEBHOOK_ALLOW)"
            )
    return addresses


async def _lookup(host: str, port: int) -> list[IpAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise AddressRefused(f"host {host!r} does not resolve") from exc
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise AddressRefused(f"host {host!r} does not resolve")
    return found
