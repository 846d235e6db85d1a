"""A campaign created through the gateway with a per-network variant, staged by the scheduler
and posted by the publisher on the simulator: what each network received is what the
gateway's preview showed, the variant on its network and the message elsewhere."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import CampaignCreated, ShareRequested
from chorus.gateway.app import create_app
from chorus.networks import spec_for
from chorus.networks.linkedin.text import escape_little_text
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.media import ImageFetcher
from chorus.scheduler.handlers import SchedulerHandlers
from tests.factories import Org, make_accounts, sim_accounts
from tests.gateway.conftest import client_for

pytestmark = pytest.mark.integration

SIMULATED = [Network.MASTODON, Network.X, Network.LINKEDIN, Network.FACEBOOK]
MESSAGE = "Our new release is out: what it means for you."
# An emoji with a skin tone, CJK and LinkedIn's markup characters: each network's own rules.
VARIANT = "Out now \U0001f44d\U0001f3fd 新版本 (v2) #launch: read_it"


async def _create(
    db: Database, keyring: Keyring, http: NetworkHttp, org: Org, body: dict[str, Any]
) -> dict[str, Any]:
    app = create_app(db=db, keyring=keyring, address_policy=AddressPolicy(), network_http=http)
    async with client_for(app) as api:
        headers = {"Authorization": f"Bearer {org.api_key}"}
        response = await api.post("/v1/campaigns", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _publish(
    db: Database, keyring: Keyring, http: NetworkHttp, org: Org, campaign_id: uuid.UUID
) -> None:
    await SchedulerHandlers(db=db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    async with db.sessions.begin() as session:
        shares = (
            await session.execute(
                text(
                    "UPDATE shares SET status = 'queued' WHERE campaign_id = :c "
                    "RETURNING id, network"
                ),
                {"c": campaign_id},
            )
        ).all()
    assert shares
    for share_id, network in shares:
        spec = spec_for(Network(network))
        handlers = PublisherHandlers(
            db=db,
            spec=spec,
            client=spec.client(http, None),
            keyring=keyring,
            claim_lease=timedelta(seconds=45),
            attempt_deadline=timedelta(seconds=20),
            images=ImageFetcher(http, max_bytes=spec.max_image_bytes),
        )
        await handlers.share_requested(
            ShareRequested(share_id=share_id, org_id=org.id, network=Network(network))
        )
    async with db.sessions() as session:
        statuses = (
            await session.execute(
                text("SELECT status, reason FROM shares WHERE campaign_id = :c"),
                {"c": campaign_id},
            )
        ).all()
    assert all(s.status == "published" for s in statuses), statuses


async def _posted(sim: httpx.AsyncClient, network: Network) -> str:
    [post] = (await sim.get("/_sim/posts", params={"network": network.value})).json()
    text_: str = post["text"]
    return text_


def _as_sent(network: Network, shown: str) -> str:
    # LinkedIn shows its "little text" unescaped; the client sends it escaped.
    return escape_little_text(shown) if network is Network.LINKEDIN else shown


@pytest.mark.parametrize("network", SIMULATED, ids=lambda n: n.value)
async def test_the_variant_is_posted_as_its_preview_showed_it(
    network: Network,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:
    accounts = await sim_accounts(sim_http, count=1, network=network.value)
    await make_accounts(clean_db, org=org, keyring=keyring, sim=accounts, network=network.value)
    body = {
        "title": "Launch",
        "url": "https://example.com/launch",
        "message": MESSAGE,
        "networks": [network.value],
        "variants": {network.value: {"message": VARIANT}},
    }
    campaign = await _create(clean_db, keyring, sim_net, org, body)
    preview = campaign["preview"][network.value]
    assert preview["text"].startswith(VARIANT) and MESSAGE not in preview["text"]
    await _publish(clean_db, keyring, sim_net, org, uuid.UUID(campaign["id"]))
    assert await _posted(sim_http, network) == _as_sent(network, preview["text"])


async def test_a_network_without_a_variant_gets_the_message(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:
    for network in ("x", "mastodon"):
        accounts = await sim_accounts(sim_http, count=1, network=network)
        await make_accounts(clean_db, org=org, keyring=keyring, sim=accounts, network=network)
    body = {
        "title": "Launch",
        "url": "https://example.com/launch",
        "message": MESSAGE,
        "networks": ["x", "mastodon"],
        "variants": {"x": {"message": VARIANT}},
    }
    campaign = await _create(clean_db, keyring, sim_net, org, body)
    await _publish(clean_db, keyring, sim_net, org, uuid.UUID(campaign["id"]))
    posted = {n: await _posted(sim_http, n) for n in (Network.X, Network.MASTODON)}
    assert posted == {
        Network.X: f"{VARIANT}\n\nhttps://example.com/launch",
        Network.MASTODON: f"{MESSAGE}\n\nhttps://example.com/launch",
    }
    assert posted == {n: campaign["preview"][n.value]["text"] for n in posted}
