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
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp.abc
import certifi
import httpx
from opentelemetry.trace import SpanKind

from chorus.common.addresses import AddressPolicy, DestinationRefused
from chorus.common.failures import PermanentFailure, TransientFailure
from chorus.common.settings import NetworkAccessSettings
from chorus.common.tracing import span

__all__ = ["HttpAnswer", "NetworkHttp"]

USER_AGENT = "Chorus/0.1 (+employee advocacy)"
# Idle connections are dropped before the usual servers' own 5 s keep-alive (uvicorn, nginx
# defaults are 5 s and more), so we rarely send on a connection the server is closing: such
# a send is ambiguous for a post.
KEEPALIVE_SECONDS = 4.0
# Waiting for a free connection and opening one: past this, nothing was sent (not ambiguous).
CONNECT_SECONDS = 10.0
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status_code: int
    # Case-insensitive, as HTTP's field names are.
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _ResponseTooLarge(Exception):
    pass


class _GuardedResolver(aiohttp.abc.AbstractResolver):
    """Names are resolved by the policy, which refuses non-public answers; aiohttp connects
    to the addresses returned here (TLS still verifies the certificate against the name).
    Hosts given as IP literals never reach a resolver: `AddressPolicy.check_url` refuses
    non-public ones before the call."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in await self._policy.resolve(host, port)
        ]

    async def close(self) -> None:
        return None


def _body(data: Any, files: Any, content: bytes | None) -> Any:
    """httpx's request-body arguments as aiohttp takes them (the network clients use httpx's
    shapes: `files={"field": (filename, bytes, mime)}` beside form `data`)."""
    if files:
        form = aiohttp.FormData()
        for name, value in (data or {}).items():
            form.add_field(name, str(value))
        for name, (filename, blob, mime) in files.items():
            form.add_field(name, blob, filename=filename, content_type=mime)
        return form
    return content if content is not None else data


class NetworkHttp:
    """One per process. Calls go out on aiohttp through one guarded pool of at most
    `max_connections` (httpx's own pool cost about four times the CPU per call: the closing
    note of issue 6 has the figures). `transport` is for tests: an in-process httpx
    transport (the simulator as an ASGI app, or a mock) in place of sockets."""

    def __init__(
        self,
        *,
        policy: AddressPolicy,
        deadline: float,
        max_bytes: int,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.deadline = deadline
        self.max_bytes = max_bytes
        self._max_connections = max_connections
        self._headers = {"User-Agent": USER_AGENT}
        self._in_process = (
            httpx.AsyncClient(transport=transport, headers=self._headers)
            if transport is not None
            else None
        )
        # aiohttp's session belongs to a running loop: opened on the first call.
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: NetworkAccessSettings, *, max_connections: int) -> NetworkHttp:
        return cls(
            policy=AddressPolicy(allow_private=settings.allow_private_networks),
            deadline=settings.network_deadline_seconds,
            max_bytes=settings.network_max_response_bytes,
            max_connections=max_connections,
        )

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=KEEPALIVE_SECONDS,
            use_dns_cache=False,
            resolver=_GuardedResolver(self.policy),
            ssl=ssl.create_default_context(cafile=certifi.where()),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            # Calls for different colleagues share the pool: no cookie may pass between them.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_SECONDS),
            # Each call's body is read under our own byte cap.
            raise_for_status=False,
        )
        return self._session

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
        # A span of our own rather than aiohttp's instrumentation: that one would send our
        # trace ids to the networks in a header. Method, network and status only: the URL's
        # query and the body may hold a token or the colleague's text.
        with span(
            f"{method} {network}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": method, "chorus.network": network},
        ) as current:
            answer = await self._request(
                network,
                method,
                url,
                effect=effect,
                headers=headers,
                params=params,
                json=json,
                data=data,
                files=files,
                content=content,
                deadline=deadline,
            )
            current.set_attribute("http.response.status_code", answer.status_code)
            return answer

    async def _request(
        self,
        network: str,
        method: str,
        url: str,
        *,
        effect: bool,
        headers: dict[str, str] | None,
        params: Any,
        json: Any,
        data: Any,
        files: Any,
        content: bytes | None,
        deadline: float | None,
    ) -> HttpAnswer:
        try:
            self.policy.check_url(url)
        except DestinationRefused as exc:
            raise PermanentFailure(f"{network}: refused to call {_origin(url)}: {exc}") from exc
        seconds = deadline or self.deadline
        try:
            async with asyncio.timeout(seconds):
                if self._in_process is not None:
                    return await self._send_in_process(
                        network,
                        method,
                        url,
                        effect=effect,
                        headers=headers,
                        params=params,
                        json=json,
                        data=data,
                        files=files,
                        content=content,
                    )
                return await self._send(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    json=json,
                    data=_body(data, files, content),
                )
        except aiohttp.ConnectionTimeoutError as exc:
            # No connection within CONNECT_SECONDS (the pool's wait included): nothing left.
            raise TransientFailure(f"{network} unreachable: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            raise TransientFailure(
                f"{network}: no complete answer within {seconds:g} s", ambiguous=effect
            ) from exc
        except _ResponseTooLarge as exc:
            raise TransientFailure(
                f"{network}: answer larger than {self.max_bytes} bytes", ambiguous=effect
            ) from exc
        except DestinationRefused as exc:
            raise PermanentFailure(f"{network}: refused to call {_origin(url)}: {exc}") from exc
        except aiohttp.ClientConnectorError as exc:
            # The connection (TCP or TLS) was never made: nothing was sent, never ambiguous.
            raise TransientFailure(f"{network} unreachable: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            # The request may have left: the post may exist though we never saw the answer.
            raise TransientFailure(
                f"{network} gave no answer: {type(exc).__name__}", ambiguous=effect
            ) from exc

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None,
        params: Any,
        json: Any,
        data: Any,
    ) -> HttpAnswer:
        session = self._session or self._open()
        async with session.request(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            data=data,
            allow_redirects=False,
        ) as response:
            declared = response.content_length
            if declared is not None and declared > self.max_bytes:
                raise _ResponseTooLarge()
            body = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                body += chunk
                if len(body) > self.max_bytes:
                    raise _ResponseTooLarge()
            return HttpAnswer(response.status, response.headers, bytes(body))

    async def _send_in_process(
        self, network: str, method: str, url: str, *, effect: bool, **kwargs: Any
    ) -> HttpAnswer:
        assert self._in_process is not None
        try:
            async with self._in_process.stream(method, url, **kwargs) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise _ResponseTooLarge()
                return HttpAnswer(response.status_code, response.headers, bytes(body))
        except httpx.ConnectError as exc:
            raise TransientFailure(f"{network} unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise TransientFailure(
                f"{network} gave no answer: {type(exc).__name__}", ambiguous=effect
            ) from exc

    async def aclose(self) -> None:
        if self._in_process is not None:
            await self._in_process.aclose()
        if self._session is not None:
            await self._session.close()


def _origin(url: str) -> str:
    """Scheme and host only: paths and queries may carry ids we do not log."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
