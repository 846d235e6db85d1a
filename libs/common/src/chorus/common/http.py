"""Calls to the networks, with the guarantees every call needs whatever the network:

- the destination is https and public (`AddressPolicy`), checked on the URL and again at
  connect time on the resolved address, which is then the one connected to;
- a total deadline, however slowly the server dribbles its answer;
- a cap on the answer's size, so one hostile server cannot exhaust memory;
- every failure mapped to the taxonomy of `chorus.common.failures`: a request that may have
  reached the network (`effect=True`) and got no complete answer is ambiguous.

    http = NetworkHttp(policy=AddressPolicy(), deadline=15, max_bytes=1 << 20)
    answer = await http.request("mastodon", "POST", url, json=..., effect=True)
"""

from __future__ import annotations

import asyncio
import json
import ssl
import typing
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from chorus.common.addresses import AddressPolicy, DestinationRefused
from chorus.common.failures import PermanentFailure, TransientFailure
from chorus.common.settings import NetworkAccessSettings

__all__ = ["HttpAnswer", "NetworkHttp"]

USER_AGENT = "Chorus/0.1 (+employee advocacy)"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _ResponseTooLarge(Exception):
    pass


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves names itself, refuses non-public answers, and connects to the address it
    checked (TLS still verifies the certificate against the name)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.resolve(host, port)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("unix sockets are not network destinations")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _transport(
    policy: AddressPolicy, tls: ssl.SSLContext, connections: int
) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(
        verify=tls,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )
    # httpx takes no network backend of its own, so its pool is rebuilt with ours (same
    # settings). tests/common/test_http.py fails if a name resolving to loopback gets through.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=5.0,
        network_backend=_GuardedBackend(policy),
    )
    return transport


class NetworkHttp:
    """One per process. `transport` is for tests (the simulator in-process); otherwise calls go
    out through the guarded pool, `max_connections` at most, spread over small pools (httpcore
    checks every pooled connection on each request, so one pool of 200 costs O(200) a call)."""

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        deadline: float,
        max_bytes: int,
        max_connections: int = 100,
        per_client: int = 10,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.deadline = deadline
        self.max_bytes = max_bytes
        headers = {"User-Agent": USER_AGENT}
        if transport is not None:
            self._clients = [httpx.AsyncClient(transport=transport, headers=headers)]
        else:
            count = max(1, -(-max_connections // per_client))
            size = -(-max_connections // count)
            # One TLS context for all: building one loads the CA bundle, which is slow.
            tls = httpx.create_ssl_context()
            self._clients = [
                httpx.AsyncClient(transport=_transport(policy, tls, size), headers=headers)
                for _ in range(count)
            ]
        self._turn = 0

    @classmethod
    def from_settings(cls, settings: NetworkAccessSettings, *, max_connections: int) -> NetworkHttp:
        return cls(
            policy=AddressPolicy(allow_private=settings.allow_private_networks),
            deadline=settings.network_deadline_seconds,
            max_bytes=settings.network_max_response_bytes,
            max_connections=max_connections,
        )

    def _client(self) -> httpx.AsyncClient:
        self._turn = (self._turn + 1) % len(self._clients)
        return self._clients[self._turn]

    async def request(
        self,
        network: str,
        method: str,
        url: str,
        *,
        effect: bool,
        headers: dict[str, str] | None = None,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        content: bytes | None = None,
        deadline: float | None = None,
    ) -> HttpAnswer:
        """Call `url`; `effect` says whether the request changes something at the network (a
        post), which makes a lost answer ambiguous. Raises only chorus failures."""
        try:
            self.policy.check_url(url)
        except DestinationRefused as exc:
            raise PermanentFailure(f"{network}: refused to call {_origin(url)}: {exc}") from exc
        try:
            async with asyncio.timeout(deadline or self.deadline):
                return await self._send(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    content=content,
                )
        except TimeoutError as exc:
            raise TransientFailure(
                f"{network}: no complete answer within {deadline or self.deadline:g} s",
                ambiguous=effect,
            ) from exc
        except _ResponseTooLarge as exc:
            raise TransientFailure(
                f"{network}: answer larger than {self.max_bytes} bytes", ambiguous=effect
            ) from exc
        except DestinationRefused as exc:
            raise PermanentFailure(f"{network}: refused to call {_origin(url)}: {exc}") from exc
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing was sent: never ambiguous.
            raise TransientFailure(f"{network} unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            # The request may have left: the post may exist though we never saw the answer.
            raise TransientFailure(
                f"{network} gave no answer: {type(exc).__name__}", ambiguous=effect
            ) from exc

    async def _send(self, method: str, url: str, **kwargs: Any) -> HttpAnswer:
        client = self._client()
        async with client.stream(method, url, **kwargs) as response:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise _ResponseTooLarge()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise _ResponseTooLarge()
            return HttpAnswer(response.status_code, response.headers, bytes(body))

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def _origin(url: str) -> str:
    """Scheme and host only: paths and queries may carry ids we do not log."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
