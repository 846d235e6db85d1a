"""Webhooks through the whole stack as real processes: a campaign's completion leaves the
publisher's outbox, crosses RabbitMQ to the scheduler, and reaches a CMS on loopback, signed;
the CMS was down at first and gets it on a later attempt."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web

from chorus.common.wakeup import asyncpg_dsn
from chorus.common.webhooks import verify
from chorus.devstack.stack import Stack
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="chorus-webhooks-"))
    with Stack(root=root, service_env={"CHORUS_WEBHOOKS_POLL_SECONDS": "0.2"}) as running:
        running.start_all()
        yield running


class Cms:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.down = True

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=503 if self.down else 204)


@pytest.fixture
async def cms() -> AsyncIterator[tuple[Cms, str]]:
    got = Cms()
    app = web.Application()
    app.router.add_post("/hooks", got.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield got, f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    await runner.cleanup()


async def test_a_campaigns_completion_reaches_the_cms_signed_after_it_was_down(
    stack: Stack, cms: tuple[Cms, str]
) -> None:
    receiver, url = cms
    key = stack.create_organisation("Webhooks")
    stack.seed_ambassadors(api_key=key, count=3, followers=5)
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=auth, timeout=10) as api:
        made = await api.post("/v1/webhooks", json={"url": url, "events": ["campaign.completed"]})
        assert made.status_code == 201, made.text
        hook: dict[str, Any] = made.json()
        campaign = await api.post(
            "/v1/campaigns",
            json={
                "title": "Hooked",
                "url": "https://example.com/post",
                "message": "Hooked",
                "networks": ["mastodon"],
            },
        )
        assert campaign.status_code == 201, campaign.text

        async def log() -> list[dict[str, Any]]:
            page = await api.get(f"/v1/webhooks/{hook['id']}/deliveries")
            items: list[dict[str, Any]] = page.json()["items"]
            return items

        # The first attempt meets the CMS down: the log shows it, due again in about 30 s.
        [failed] = await eventually(log, until=lambda items: bool(items and items[0]["attempts"]))
        assert (failed["status"], failed["last_status_code"]) == ("pending", 503)
        assert failed["payload"]["campaign_id"] == campaign.json()["id"]
        receiver.down = False
        # As if the 30 s had passed, rather than waiting them out.
        connection = await asyncpg.connect(asyncpg_dsn(stack.database_url))
        try:
            await connection.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1",
                uuid.UUID(failed["id"]),
            )
        finally:
            await connection.close()
        [done] = await eventually(log, until=lambda items: items[0]["status"] == "delivered")
    assert done["attempts"] == 2
    assert [a["status_code"] for a in done["attempt_log"]] == [503, 204]
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert headers["Chorus-Webhook-Id"] == done["event_id"]
    assert verify(hook["secret"], headers["Chorus-Signature"], body, now=int(time.time()))
    assert not verify(
        hook["secret"], headers["Chorus-Signature"], body + b" ", now=int(time.time())
    )
