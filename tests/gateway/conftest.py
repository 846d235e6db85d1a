from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.gateway.app import create_app

# Names the tests use, as a resolver would answer them (no outside DNS in tests).
ADDRESSES = {
    "mastodon.example": ["93.184.215.14"],
    "other.example": ["93.184.215.15"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.215.16", "10.1.2.3"],
}


async def test_resolver(host: str, port: int) -> list[str]:
    if host not in ADDRESSES:
        raise OSError(-2, "Name or service not known")
    return ADDRESSES[host]


test_resolver.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
async def api(clean_db: Database, keyring: Keyring) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app over the real database, reached in-process, as in production: only
    https and public addresses for accounts."""
    policy = AddressPolicy(allow_private=False, resolver=test_resolver)
    http = NetworkHttp(policy=policy, deadline=10, max_bytes=1 << 20)
    app = create_app(
        db=clean_db,
        keyring=keyring,
        address_policy=policy,
        network_http=http,
        allow_raw_tokens=True,
        max_body_bytes=16 * 1024,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://gateway",
    ) as client:
        yield client
    await http.aclose()
