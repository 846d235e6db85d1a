"""The publisher with tracked links on, on every network the simulator serves: the post carries
the share's own short link (stored before the call), and a lost answer is still reconciled by
looking the post up by that link, so there is never a second post."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.links import link_code
from chorus.common.messages import ShareRequested
from chorus.common.shares import claim_many
from chorus.netsim import SimState
from chorus.networks import spec_for
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.links import TrackedLinks
from chorus.publisher.media import ImageFetcher
from tests.factories import Org, network_http, share_rows, stage_campaign

pytestmark = pytest.mark.integration

SIMULATED = [Network.MASTODON, Network.X, Network.LINKEDIN, Network.FACEBOOK]
BASE = "https://go.chorus.example"
KEY = b"k" * 32


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def _execute(db: Database, sql: str, **params: Any) -> None:
    async with db.sessions.begin() as session:
        await session.execute(text(sql), params)


@pytest.mark.parametrize("network", SIMULATED, ids=lambda n: n.value)
async def test_the_post_carries_the_shares_link_and_a_lost_answer_posts_once(
    network: Network,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_app: FastAPI,
    sim_state: SimState,
) -> None:
    spec = spec_for(network)
    campaign_id = await stage_campaign(
        clean_db, org=org, keyring=keyring, sim=sim_http, count=1, network=network.value
    )
    [share] = await share_rows(clean_db, campaign_id)
    await _execute(clean_db, "UPDATE shares SET status = 'queued'")
    quick = network_http(app=sim_app, deadline=1)
    handlers = PublisherHandlers(
        db=clean_db,
        spec=spec,
        client=spec.client(quick, None),
        keyring=keyring,
        claim_lease=timedelta(seconds=45),
        attempt_deadline=timedelta(seconds=2),
        images=ImageFetcher(quick, max_bytes=spec.max_image_bytes),
        links=TrackedLinks(base_url=BASE + "/", key=KEY),
    )
    request = ShareRequested(share_id=share.id, org_id=org.id, network=network)
    # The post is made, but its answer never comes back: the retry must find it by its link.
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    await handlers.share_requested(request)
    await _execute(clean_db, "UPDATE shares SET planned_at = now()")
    await handlers.share_requested(request)

    [row] = await _rows(clean_db, "SELECT status FROM shares")
    assert row.status == "published"
    stats = (await sim_http.get("/_sim/stats")).json()
    assert stats["by_network"][network.value]["posts"] == 1
    assert stats["duplicates"] == 0
    code = link_code(KEY, share.id)
    [link] = await _rows(clean_db, "SELECT code, share_id, org_id FROM share_links")
    assert (link.code, link.share_id, link.org_id) == (code, share.id, org.id)
    [post] = sim_state.posts.values()
    shown = post.text + repr(post.content or {})
    assert f"{BASE}/l/{code}" in shown
    assert "example.com/a" not in shown  # the campaign's own URL is not posted
    await quick.aclose()


async def test_the_stored_code_wins_over_a_new_key(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """A key changed between two attempts: the share keeps the link its first attempt stored,
    which is the one a look-up of that attempt's post must match."""
    campaign_id = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=2)
    first, second = await share_rows(clean_db, campaign_id)
    async with clean_db.engine.begin() as conn:
        await _claimed(conn, first.id, org, TrackedLinks(base_url=BASE, key=KEY))
    async with clean_db.engine.begin() as conn:
        url_first = await _claimed(conn, first.id, org, TrackedLinks(base_url=BASE, key=b"n" * 32))
        url_second = await _claimed(
            conn, second.id, org, TrackedLinks(base_url=BASE, key=b"n" * 32)
        )
    assert url_first == f"{BASE}/l/{link_code(KEY, first.id)}"
    assert url_second == f"{BASE}/l/{link_code(b'n' * 32, second.id)}"


async def test_a_share_attempted_before_links_were_on_keeps_the_campaigns_url(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """Its earlier attempt may have posted with the campaign's URL: the retry's look-up must
    match that, so no link is given now, or a network without idempotency gets it twice."""
    campaign_id = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=1)
    [share] = await share_rows(clean_db, campaign_id)
    async with clean_db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE shares SET status = 'queued', planned_at = now() WHERE id = :id"),
            {"id": share.id},
        )
        [untracked] = await claim_many(
            session=conn, requests=[(share.id, org.id)], lease=timedelta(0)
        )
    assert untracked is not None
    async with clean_db.engine.begin() as conn:
        url = await _claimed(conn, share.id, org, TrackedLinks(base_url=BASE, key=KEY))
    assert url == untracked.url and not url.startswith(BASE)
    assert await _rows(clean_db, "SELECT code FROM share_links") == []


async def _claimed(conn: Any, share_id: Any, org: Org, links: TrackedLinks) -> str:
    await conn.execute(
        text("UPDATE shares SET status = 'queued', planned_at = now() WHERE id = :id"),
        {"id": share_id},
    )
    claimed = await claim_many(session=conn, requests=[(share_id, org.id)], lease=timedelta(0))
    [share] = await links.apply(session=conn, shares=claimed)
    assert share is not None
    return str(share.url)
