"""Every call to a network: https to public addresses only (checked again after resolution),
a total deadline however slowly the answer comes, and a cap on its size. Real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from chorus.common.addresses import AddressPolicy
from chorus.common.failures import PermanentFailure, TransientFailure
from chorus.common.http import NetworkHttp

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Serve = Callable[[Handler], Awaitable[int]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(closing, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


def _http(
    *, allow_private: bool = True, deadline: float = 5, max_bytes: int = 1 << 16
) -> NetworkHttp:
    return NetworkHttp(
        policy=AddressPolicy(allow_private=allow_private), deadline=deadline, max_bytes=max_bytes
    )


async def test_an_answer_dribbled_byte_by_byte_hits_the_total_deadline(serve: Serve) -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):  # each byte well inside any read timeout
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.2)

    port = await serve(dribble)
    http = _http(deadline=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransientFailure) as caught:
        await http.request("test", "POST", f"http://127.0.0.1:{port}/", effect=True, json={})
    assert loop.time() - started < 3
    assert caught.value.ambiguous and "within 1 s" in caught.value.reason
    await http.aclose()


@pytest.mark.parametrize("declared", [True, False])
async def test_an_answer_larger_than_the_cap_is_refused_before_it_is_read(
    serve: Serve, declared: bool
) -> None:
    sent: list[int] = []

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        length = (
            b"Content-Length: 1073741824\r\n" if declared else b"Transfer-Encoding: chunked\r\n"
        )
        writer.write(b"HTTP/1.1 200 OK\r\n" + length + b"\r\n")
        chunk = b"x" * 65536
        for _ in range(16384):  # a gigabyte, if anyone kept reading
            writer.write(chunk if declared else b"10000\r\n" + chunk + b"\r\n")
            await writer.drain()
            sent.append(len(chunk))

    port = await serve(huge)
    http = _http(max_bytes=256 * 1024)
    with pytest.raises(TransientFailure, match="larger than"):
        await http.request("test", "GET", f"http://127.0.0.1:{port}/", effect=False)
    await http.aclose()
    assert sum(sent) < 64 << 20  # the reader stopped long before the end


async def test_plain_http_and_private_addresses_are_refused_in_production(serve: Serve) -> None:
    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    port = await serve(ok)
    production = _http(allow_private=False)
    for url in (
        f"http://127.0.0.1:{port}/",  # not https
        f"https://127.0.0.1:{port}/",  # a loopback literal
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        f"https://localhost:{port}/",  # a name: refused when it resolves, before connecting
    ):
        with pytest.raises(PermanentFailure, match="refused"):
            await production.request("test", "GET", url, effect=False)
    await production.aclose()
    # The development setting lets the simulator's loopback http through.
    development = _http(allow_private=True)
    answer = await development.request("test", "GET", f"http://127.0.0.1:{port}/", effect=False)
    assert answer.content == b"ok"
    await development.aclose()


async def test_a_name_that_later_points_inside_is_refused_at_connect_time() -> None:
    answers = {"social.example": ["93.184.215.14"]}

    async def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    policy = AddressPolicy(resolver=resolver)
    # Checked when the account was connected: a public address.
    assert await policy.resolve("social.example", 443) == ["93.184.215.14"]
    # Then its DNS is changed to point at the metadata service: the call is refused.
    answers["social.example"] = ["169.254.169.254"]
    http = NetworkHttp(policy=policy, deadline=5, max_bytes=1024)
    with pytest.raises(PermanentFailure, match=r"169\.254\.169\.254"):
        await http.request("test", "GET", "https://social.example/api", effect=False)
    await http.aclose()


async def test_a_refused_connection_is_transient_and_not_ambiguous() -> None:
    http = _http()
    with pytest.raises(TransientFailure) as caught:
        await http.request("test", "POST", "http://127.0.0.1:1/", effect=True)
    assert not caught.value.ambiguous
    await http.aclose()


async def test_a_connection_lost_after_the_post_was_sent_is_ambiguous(serve: Serve) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)  # the post arrived; the answer never leaves

    port = await serve(hang_up)
    http = _http()
    with pytest.raises(TransientFailure) as caught:
        await http.request("test", "POST", f"http://127.0.0.1:{port}/", effect=True, json={})
    assert caught.value.ambiguous
    await http.aclose()


async def _requests_of(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


async def test_no_redirect_is_followed_and_no_cookie_passes_between_calls(serve: Serve) -> None:
    seen: list[bytes] = []

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not reader.at_eof():
            seen.append(await _requests_of(reader))
            writer.write(
                b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n"
                b"Set-Cookie: session=colleague-a; Path=/\r\nContent-Length: 0\r\n\r\n"
            )
            await writer.drain()

    port = await serve(redirect)
    http = _http()
    for _ in range(2):
        # A name, not an address: a cookie jar takes no cookies from bare addresses.
        answer = await http.request("test", "GET", f"http://localhost:{port}/", effect=False)
        assert answer.status_code == 302
        assert answer.headers["location"] == "http://169.254.169.254/"
    assert len(seen) == 2
    # One colleague's cookie is never sent on another's call.
    assert b"cookie" not in seen[1].lower().replace(b"set-cookie", b"")
    await http.aclose()


async def test_an_upload_is_sent_as_multipart_form_data(serve: Serve) -> None:
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _requests_of(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b'Content-Length: 11\r\n\r\n{"id": "7"}')
        await writer.drain()

    port = await serve(record)
    http = _http()
    answer = await http.request(
        "test",
        "POST",
        f"http://127.0.0.1:{port}/media",
        effect=True,
        data={"description": "A chart"},
        files={"file": ("image", b"\x89PNG-bytes", "image/png")},
    )
    assert answer.json() == {"id": "7"}
    request = seen[0]
    assert b"multipart/form-data; boundary=" in request
    assert b'name="description"\r\n' in request and b"A chart" in request
    assert b'name="file"; filename="image"' in request
    assert b"Content-Type: image/png" in request and b"\x89PNG-bytes" in request
    await http.aclose()
