from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

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


@dataclass
class Clock:
    """The wall clock the gateway reads, moved by the test instead of waited for."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


GatewayFactory = Callable[..., FastAPI]


@pytest.fixture
async def gateway_app(
    clean_db: Database, keyring: Keyring, clock: Clock
) -> AsyncIterator[GatewayFactory]:
    """Builds the gateway app over the real database, as in production (only https and
    public addresses for accounts), with the test's clock; keywords go to `create_app`."""
    policy = AddressPolicy(allow_private=False, resolver=test_resolver)
    http = NetworkHttp(policy=policy, deadline=10, max_bytes=1 << 20)

    def build(**overrides: Any) -> FastAPI:
        settings: dict[str, Any] = {
            "db": clean_db,
            "keyring": keyring,
            "address_policy": policy,
            "network_http": http,
            "allow_raw_tokens": True,
            "max_body_bytes": 16 * 1024,
            "clock": clock,
        }
        return create_app(**{**settings, **overrides})

    yield build
    await http.aclose()


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """Requests reach the app in-process; several in flight at once interleave for real."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://gateway",
    )


@pytest.fixture
async def api(gateway_app: GatewayFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app over the real database, reached in-process."""
    async with client_for(gateway_app()) as client:
        yield client
