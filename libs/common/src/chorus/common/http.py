"""Outgoing HTTP to the networks.

httpcore checks every pooled connection for expiry on each request (a syscall apiece), so one
pool of 200 connections costs O(200) per request. Several small pools, taken in turn, keep the
same number of requests in flight for a fraction of that.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

__all__ = ["HttpPool", "Requester"]


class HttpPool:
    """`HttpPool(max_connections=200, timeout=15)`; close with `await pool.aclose()`."""

    def __init__(self, *, max_connections: int, timeout: float, per_client: int = 10) -> None:
        count = max(1, -(-max_connections // per_client))
        size = -(-max_connections // count)
        # One TLS context for all: building one loads the CA bundle, which is slow.
        tls = httpx.create_ssl_context()
        self._clients = [
            httpx.AsyncClient(
                verify=tls,
                timeout=timeout,
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                headers={"User-Agent": "Chorus/0.1 (+employee advocacy)"},
            )
            for _ in range(count)
        ]
        self._next = itertools.cycle(self._clients)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await next(self._next).request(method, url, **kwargs)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


# What the network clients send through: a pool in services, one client in tests.
Requester = httpx.AsyncClient | HttpPool
