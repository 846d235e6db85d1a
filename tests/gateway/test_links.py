"""Tracked links at the gateway, on the real database: the redirect with its UTM parameters,
clicks counted per share and day without a trace of who clicked, bots not counted, unknown
codes 404, a cancelled campaign's links still working; and the campaign's UTM template."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import text

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.links import link_code
from tests.factories import Org, share_rows, stage_campaign
from tests.gateway.conftest import GatewayFactory, client_for

pytestmark = pytest.mark.integration

KEY = b"k" * 32
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
PREVIEWERS = [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mastodon/4.3.0 (http.rb/5.2.0; +https://mastodon.social/) Bot",
    "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)",
]


async def _execute(db: Database, sql: str, **params: Any) -> None:
    async with db.sessions.begin() as session:
        await session.execute(text(sql), params)


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def _linked_share(
    db: Database, org: Org, keyring: Keyring, sim: httpx.AsyncClient
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """(campaign, share, code) of a one-share campaign whose link the publisher stored."""
    campaign_id = await stage_campaign(db, org=org, keyring=keyring, sim=sim, count=1)
    [share] = await share_rows(db, campaign_id)
    code = link_code(KEY, share.id)
    await _execute(
        db,
        "INSERT INTO share_links (code, share_id, org_id) VALUES (:c, :s, :o)",
        c=code,
        s=share.id,
        o=org.id,
    )
    return campaign_id, share.id, code


async def _clicks(db: Database, share_id: uuid.UUID) -> int:
    rows = await _rows(
        db, "SELECT sum(clicks) AS n FROM share_clicks WHERE share_id = :s", s=share_id
    )
    return int(rows[0].n or 0)


async def test_a_click_redirects_with_utm_and_is_counted_without_who(
    api: httpx.AsyncClient,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    _, share_id, code = await _linked_share(clean_db, org, keyring, sim_http)
    [colleague] = await _rows(clean_db, "SELECT external_id FROM ambassadors")

    response = await api.get(f"/l/{code}", headers=BROWSER)
    assert response.status_code == 302
    assert response.headers["cache-control"] == "no-store"
    target = urlsplit(response.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "example.com", "/a")
    assert dict(parse_qsl(target.query)) == {
        "utm_source": "mastodon",
        "utm_medium": "social",
        "utm_campaign": "t",
        "utm_content": colleague.external_id,
    }
    for _ in range(2):
        assert (await api.get(f"/l/{code}", headers=BROWSER)).status_code == 302
    assert await _clicks(clean_db, share_id) == 3

    # Nothing that could tell who clicked has anywhere to go.
    columns = await _rows(
        clean_db,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'share_clicks'",
    )
    assert {c.column_name for c in columns} == {"share_id", "day", "org_id", "clicks"}
    [row] = await _rows(clean_db, "SELECT day, org_id, clicks FROM share_clicks")
    assert (row.org_id, row.clicks) == (org.id, 3)


async def test_bots_and_link_previews_follow_but_are_not_counted(
    api: httpx.AsyncClient,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    _, share_id, code = await _linked_share(clean_db, org, keyring, sim_http)
    for agent in PREVIEWERS:
        response = await api.get(f"/l/{code}", headers={"User-Agent": agent})
        assert response.status_code == 302, agent
    response = await api.get(f"/l/{code}", headers={"User-Agent": ""})
    assert response.status_code == 302
    assert await _clicks(clean_db, share_id) == 0
    assert (await api.get(f"/l/{code}", headers=BROWSER)).status_code == 302
    assert await _clicks(clean_db, share_id) == 1


async def test_unknown_codes_are_404_and_a_cancelled_campaigns_link_still_works(
    api: httpx.AsyncClient,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    campaign_id, share_id, code = await _linked_share(clean_db, org, keyring, sim_http)
    for unknown in ("zzzzzzzzzzzz", "not-a-code!", "x" * 17):
        response = await api.get(f"/l/{unknown}", headers=BROWSER)
        assert response.status_code == 404, unknown
        assert response.headers["content-type"] == "application/problem+json"
    auth = {"Authorization": f"Bearer {org.api_key}"}
    assert (await api.post(f"/v1/campaigns/{campaign_id}/cancel", headers=auth)).status_code == 200
    assert (await api.get(f"/l/{code}", headers=BROWSER)).status_code == 302
    assert await _clicks(clean_db, share_id) == 1


async def test_the_campaigns_template_keeps_the_urls_own_query(
    api: httpx.AsyncClient,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    campaign_id, _, code = await _linked_share(clean_db, org, keyring, sim_http)
    [ambassador] = await _rows(clean_db, "SELECT id FROM ambassadors")
    await _execute(
        clean_db,
        "UPDATE campaigns SET url = :u, title = :t, utm = CAST(:utm AS jsonb) WHERE id = :c",
        u="https://example.com/launch?lang=fr&utm_source=old#top",
        t="Élan: 2027's launch!",
        utm='{"source": "chorus-{network}", "medium": "advocacy", "campaign": "{campaign}",'
        ' "content": "{colleague}", "colleague": "opaque"}',
        c=campaign_id,
    )
    response = await api.get(f"/l/{code}", headers=BROWSER)
    target = urlsplit(response.headers["location"])
    assert target.fragment == "top"
    assert parse_qsl(target.query) == [
        ("lang", "fr"),
        ("utm_source", "chorus-mastodon"),
        ("utm_medium", "advocacy"),
        ("utm_campaign", "elan-2027s-launch"),
        ("utm_content", str(ambassador.id)),
    ]


CAMPAIGN = {
    "title": "We shipped",
    "url": "https://example.com/launch",
    "message": "Our new release is out.",
    "networks": ["mastodon"],
}


@pytest.mark.parametrize(
    "utm",
    [
        {"source": "{netwrok}"},
        {"content": "{colleague.name}"},
        {"campaign": "{campaign!r}"},
        {"medium": "social}"},
        {"medium": "{"},
        {"colleague": "email"},
        {"term": "x"},
    ],
)
async def test_a_bad_utm_template_is_refused_and_changes_nothing(
    api: httpx.AsyncClient, clean_db: Database, org: Org, utm: dict[str, str]
) -> None:
    auth = {"Authorization": f"Bearer {org.api_key}"}
    response = await api.post("/v1/campaigns", json={**CAMPAIGN, "utm": utm}, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["location"][:2] == ["body", "utm"]
    assert await _rows(clean_db, "SELECT id FROM campaigns") == []


async def test_a_utm_template_is_stored_with_its_defaults(
    api: httpx.AsyncClient, clean_db: Database, org: Org
) -> None:
    auth = {"Authorization": f"Bearer {org.api_key}"}
    utm = {"campaign": "spring-{{2027}}", "content": ""}
    response = await api.post("/v1/campaigns", json={**CAMPAIGN, "utm": utm}, headers=auth)
    assert response.status_code == 201, response.text
    plain = await api.post("/v1/campaigns", json=CAMPAIGN, headers=auth)
    assert plain.status_code == 201
    stored = {r.id: r.utm for r in await _rows(clean_db, "SELECT id, utm FROM campaigns")}
    assert stored[uuid.UUID(response.json()["id"])] == {
        "source": "{network}",
        "medium": "social",
        "campaign": "spring-{{2027}}",
        "content": "",
        "colleague": "external_id",
    }
    assert stored[uuid.UUID(plain.json()["id"])] is None


async def test_many_clicks_at_once_on_one_share_are_all_counted(
    gateway_app: GatewayFactory,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    _, share_id, code = await _linked_share(clean_db, org, keyring, sim_http)
    started = time.perf_counter()
    async with client_for(gateway_app()) as api:
        answers = await asyncio.gather(
            *(api.get(f"/l/{code}", headers=BROWSER) for _ in range(300))
        )
    elapsed = time.perf_counter() - started
    assert [a.status_code for a in answers] == [302] * 300
    assert await _clicks(clean_db, share_id) == 300
    print(f"300 concurrent clicks on one share: {elapsed:.2f} s")
