"""The ops routes: readiness tells the truth about dependencies, liveness does not depend on
them (a database outage must not restart every replica)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from chorus.common.ops import add_ops_routes


def _client(checks: dict[str, bool]) -> httpx.AsyncClient:
    async def health() -> dict[str, bool]:
        return checks

    app = FastAPI()
    add_ops_routes(app, health)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")


async def test_readiness_fails_with_a_dependency_and_names_it() -> None:
    async with _client({"database": False, "bus": True}) as ops:
        ready = await ops.get("/healthz")
        live = await ops.get("/livez")
    assert ready.status_code == 503
    assert "database down" in ready.text and "bus ok" in ready.text
    assert live.status_code == 200


async def test_readiness_passes_when_every_dependency_answers() -> None:
    async with _client({"database": True, "bus": True}) as ops:
        ready = await ops.get("/healthz")
    assert ready.status_code == 200 and ready.text == "database ok\nbus ok\n"
