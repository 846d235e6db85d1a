"""Where a colleague's token may be sent: https, to public addresses only.

Checked when an account is connected and again at every connection (after name resolution),
so a server whose name later points at 169.254.169.254 or 10.0.0.1 gets nothing. Development
(`CHORUS_ALLOW_PRIVATE_NETWORKS`) lets plain http and loopback or private addresses through,
for the simulator.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["AddressPolicy", "DestinationRefused", "Resolver", "system_resolver"]


class DestinationRefused(Exception):
    """The URL or the address its name resolves to is not one we send credentials to."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host` (OSError if none)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    allow_private: bool = False
    resolver: Resolver = system_resolver

    def check_url(self, url: str) -> str:
        """The URL's host, if the URL may be called; raises DestinationRefused otherwise.
        A host name is checked again when it is resolved (`resolve`)."""
        parts = urlsplit(url)
        if parts.scheme != "https" and not (self.allow_private and parts.scheme == "http"):
            raise DestinationRefused(f"only https URLs are called, not {parts.scheme or '?'}://")
        host = parts.hostname
        if not host:
            raise DestinationRefused("the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise DestinationRefused("the URL must not carry a user name or password")
        literal = _ip_literal(host)
        if literal is not None and not self.allow_private and not _public(literal):
            raise DestinationRefused(f"{host} is not a public address")
        return host

    async def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for `host`; raises DestinationRefused if any of them is
        not public (a name that mixes public and private answers is refused whole)."""
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = await self.resolver(host, port)
            except OSError as exc:
                raise DestinationRefused(f"{host} does not resolve ({exc.strerror})") from exc
        if not addresses:
            raise DestinationRefused(f"{host} does not resolve")
        if not self.allow_private:
            private = [a for a in addresses if not _public(a)]
            if private:
                raise DestinationRefused(f"{host} resolves to {private[0]}, not a public address")
        return addresses
