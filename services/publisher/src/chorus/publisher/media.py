"""A campaign's images, fetched once per process from where the CMS hosts them and handed to
each account's upload: a campaign to 10,000 colleagues downloads each image once, not 10,000
times. Through the same guarded HTTP as the networks (https, public addresses, a deadline and
a size cap)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from chorus.common.failures import PermanentFailure, TransientFailure
from chorus.common.http import NetworkHttp
from chorus.networks import MediaFile

__all__ = ["ImageFetcher"]

# What every network accepts for a still image.
_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
)


def _sniff(data: bytes) -> str | None:
    """The image's type from its first bytes: a header can lie, the bytes cannot."""
    for magic, mime in _MAGIC:
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


class ImageFetcher:
    def __init__(self, http: NetworkHttp, *, max_bytes: int, cached: int = 32) -> None:
        self._http = http
        self._max_bytes = max_bytes
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached = cached
        self._pending: dict[str, asyncio.Future[bytes]] = {}

    async def fetch(self, url: str, alt: str) -> MediaFile:
        data = await self._bytes(url)
        mime = _sniff(data)
        if mime not in _TYPES or mime is None:
            raise PermanentFailure(
                f"the campaign image {url[:100]} is not a PNG, JPEG, GIF or WebP"
            )
        return MediaFile(data=data, mime=mime, alt=alt)

    async def _bytes(self, url: str) -> bytes:
        if url in self._cache:
            self._cache.move_to_end(url)
            return self._cache[url]
        # Concurrent attempts for the same image share one download.
        pending = self._pending.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[url] = future
        try:
            data = await self._download(url)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning if none waits
            raise
        finally:
            del self._pending[url]
        future.set_result(data)
        self._cache[url] = data
        while len(self._cache) > self._cached:
            self._cache.popitem(last=False)
        return data

    async def _download(self, url: str) -> bytes:
        answer = await self._http.request("images", "GET", url, effect=False)
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TransientFailure(f"the campaign image answered {answer.status_code}")
        if answer.status_code != 200:
            raise PermanentFailure(f"the campaign image answered {answer.status_code}")
        if len(answer.content) > self._max_bytes:
            raise PermanentFailure(
                f"the campaign image is {len(answer.content)} bytes; the network takes "
                f"{self._max_bytes} at most"
            )
        return answer.content
