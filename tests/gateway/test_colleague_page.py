"""The colleague's page over the real database: the signed link (expiry, tampering,
revocation, one organisation never reading another's), the forms' CSRF guard, and each change
the colleague makes with the ledger row or share status it leaves."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from chorus.common.credentials import Credentials, Keyring, connect_account, new_key
from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.models import Account, Ambassador, ConsentEvent, Share
from chorus.gateway.page import LinkRefused, PageLinks
from chorus.networks import spec_for
from tests.factories import (
    Org,
    make_campaign,
    make_colleague_account,
    make_org,
    make_share,
)
from tests.gateway.conftest import Clock

pytestmark = pytest.mark.integration


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


async def _colleague(api: httpx.AsyncClient, org: Org, external_id: str = "cms-7") -> uuid.UUID:
    made = await api.put(
        f"/v1/ambassadors/{external_id}", json={"display_name": "Alice"}, headers=_auth(org)
    )
    assert made.status_code == 200, made.text
    return uuid.UUID(made.json()["id"])


async def _link(api: httpx.AsyncClient, org: Org, external_id: str = "cms-7") -> str:
    made = await api.post(f"/v1/ambassadors/{external_id}/page-link", headers=_auth(org))
    assert made.status_code == 201, made.text
    path: str = urlsplit(made.json()["url"]).path
    return path


async def _open(api: httpx.AsyncClient, path: str) -> tuple[str, str]:
    """The page's HTML and the CSRF value its forms carry."""
    shown = await api.get(path)
    assert shown.status_code == 200, shown.text
    assert shown.headers["referrer-policy"] == "no-referrer"
    found = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    assert found is not None
    return shown.text, found.group(1)


async def _status(db: Database, share_id: uuid.UUID) -> tuple[str, str | None, str | None]:
    async with db.sessions() as session:
        share = await session.get(Share, share_id)
    assert share is not None
    return share.status, share.reason, share.text_override


async def _ledger(db: Database) -> list[tuple[str, str | None, str]]:
    async with db.sessions() as session:
        rows = await session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        return [(r.action, r.mode, r.actor) for r in rows]


async def test_the_link_is_signed_expires_and_is_revoked(
    api: httpx.AsyncClient, org: Org, clean_db: Database, clock: Clock
) -> None:
    await _colleague(api, org)
    made = await api.post("/v1/ambassadors/cms-7/page-link", headers=_auth(org))
    assert made.status_code == 201
    expires = datetime.fromisoformat(made.json()["expires_at"])
    assert timedelta(days=13) < expires - clock.now <= timedelta(days=14)
    path = urlsplit(made.json()["url"]).path
    html, _ = await _open(api, path)
    assert "Hello Alice" in html
    # Tampered: the signature's first character changed (its last one carries padding bits
    # that base64 ignores: changing it there can leave the very same signature).
    at = path.rindex(".") + 1
    tampered = path[:at] + ("A" if path[at] != "A" else "B") + path[at + 1 :]
    refused = await api.get(tampered)
    assert refused.status_code == 401 and "not valid" in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert (await api.get("/page/not-a-token")).status_code == 401
    # Another organisation's key knows nothing of this colleague.
    other = await make_org(clean_db, name="other")
    stranger = await api.post("/v1/ambassadors/cms-7/page-link", headers=_auth(other))
    assert stranger.status_code == 404
    assert (await api.post("/v1/ambassadors/cms-7/page-link")).status_code == 401
    # Expired after its lifetime.
    clock.advance(days=15)
    expired = await api.get(path)
    assert expired.status_code == 401 and "expired" in expired.text
    clock.advance(days=-15)
    # Revoked: every link issued so far; a new one works.
    revoked = await api.delete("/v1/ambassadors/cms-7/page-link", headers=_auth(org))
    assert revoked.status_code == 204
    gone = await api.get(path)
    assert gone.status_code == 403 and "withdrawn" in gone.text
    await _open(api, await _link(api, org))
    assert (
        await api.delete("/v1/ambassadors/nobody/page-link", headers=_auth(org))
    ).status_code == 404
    # A colleague who left has no page, and their links stop working.
    fresh = await _link(api, org)
    left = await api.put(
        "/v1/ambassadors/cms-7",
        json={"display_name": "Alice", "status": "left"},
        headers=_auth(org),
    )
    assert left.status_code == 200
    assert (await api.get(fresh)).status_code == 403
    assert (
        await api.post("/v1/ambassadors/cms-7/page-link", headers=_auth(org))
    ).status_code == 409


async def test_forms_need_the_pages_csrf_value_and_change_nothing_without_it(
    api: httpx.AsyncClient, org: Org, clean_db: Database, keyring: Keyring
) -> None:
    ambassador = await _colleague(api, org)
    account = await make_colleague_account(
        clean_db, org=org, keyring=keyring, ambassador_id=ambassador, mode="review"
    )
    campaign = await make_campaign(clean_db, org=org, networks=("x",))
    share = await make_share(
        clean_db,
        org=org,
        campaign_id=campaign,
        account_id=account,
        network="x",
        status="awaiting_review",
        planned_at=datetime.now(UTC) + timedelta(hours=2),
    )
    path = await _link(api, org)
    _, csrf = await _open(api, path)
    # A forged form: no value, or another one, with or without the cookie.
    for data in ({}, {"csrf": "x" * 43}):
        forged = await api.post(f"{path}/shares/{share}/approve", data=data)
        assert forged.status_code == 403, forged.text
    api.cookies.clear()
    stripped = await api.post(f"{path}/shares/{share}/approve", data={"csrf": csrf})
    assert stripped.status_code == 403
    assert await _status(clean_db, share) == ("awaiting_review", None, None)
    # The cookie is SameSite=Strict and HttpOnly: another site's form never carries it.
    shown = await api.get(path)
    cookie = shown.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie


async def test_review_edit_approve_skip_mode_and_withdraw(
    api: httpx.AsyncClient, org: Org, clean_db: Database, keyring: Keyring
) -> None:
    ambassador = await _colleague(api, org)
    account = await make_colleague_account(
        clean_db, org=org, keyring=keyring, ambassador_id=ambassador, mode="auto"
    )
    campaign = await make_campaign(clean_db, org=org, message="Our news", networks=("x",))
    other_campaign = await make_campaign(clean_db, org=org, message="More", networks=("x",))
    soon = datetime.now(UTC) + timedelta(hours=2)
    first = await make_share(
        clean_db,
        org=org,
        campaign_id=campaign,
        account_id=account,
        network="x",
        status="planned",
        planned_at=soon,
    )
    second = await make_share(
        clean_db,
        org=org,
        campaign_id=other_campaign,
        account_id=account,
        network="x",
        status="planned",
        planned_at=soon,
    )
    path = await _link(api, org)
    html, csrf = await _open(api, path)
    # Rendered as X will show it: the message, then the link.
    assert "Our news\n\nhttps://example.com/a" in html
    assert 'data-state="connected"' in html
    # auto -> review: a ledger row by the colleague; shares not yet released wait for review.
    changed = await api.post(
        f"{path}/accounts/{account}/mode", data={"csrf": csrf, "mode": "review"}
    )
    assert changed.status_code == 303
    assert await _ledger(clean_db) == [("changed", "review", "colleague")]
    assert (await _status(clean_db, first))[0] == "awaiting_review"
    # An edit over X's 280: the error by the form, nothing stored.
    too_long = await api.post(
        f"{path}/shares/{first}/edit", data={"csrf": csrf, "text": "word " * 80}
    )
    assert too_long.status_code == 422
    assert "the limit is 280" in too_long.text and 'role="alert"' in too_long.text
    assert await _status(clean_db, first) == ("awaiting_review", None, None)
    edited = await api.post(
        f"{path}/shares/{first}/edit", data={"csrf": csrf, "text": "My own words"}
    )
    assert edited.status_code == 303
    assert await _status(clean_db, first) == ("awaiting_review", None, "My own words")
    html, _ = await _open(api, path)
    assert "My own words\n\nhttps://example.com/a" in html
    approved = await api.post(f"{path}/shares/{first}/approve", data={"csrf": csrf})
    assert approved.status_code == 303
    assert await _status(clean_db, first) == ("planned", None, "My own words")
    skipped = await api.post(f"{path}/shares/{second}/skip", data={"csrf": csrf})
    assert skipped.status_code == 303
    assert await _status(clean_db, second) == ("skipped", "skipped by colleague", None)
    again = await api.post(f"{path}/shares/{second}/approve", data={"csrf": csrf})
    assert again.status_code == 409
    # Withdrawn: disconnected, credentials erased, a ledger row, open shares cancelled.
    withdrawn = await api.post(f"{path}/accounts/{account}/withdraw", data={"csrf": csrf})
    assert withdrawn.status_code == 303
    assert (await _status(clean_db, first))[0] == "cancelled"
    async with clean_db.sessions() as session:
        stored = await session.get(Account, account)
    assert stored is not None and stored.status == "revoked" and stored.credentials == b""
    assert (await _ledger(clean_db))[-1] == ("withdrawn", None, "colleague")
    html, _ = await _open(api, path)
    assert 'id="network-x" data-state="not_connected"' in html


async def test_one_organisations_link_never_reaches_anothers_shares(
    api: httpx.AsyncClient, org: Org, clean_db: Database, keyring: Keyring
) -> None:
    other = await make_org(clean_db, name="other")
    shares = {}
    for owner, words in ((org, "Ours only"), (other, "Theirs only")):
        ambassador = await _colleague(api, owner)  # the same external id in both
        account = await make_colleague_account(
            clean_db, org=owner, keyring=keyring, ambassador_id=ambassador, mode="review"
        )
        campaign = await make_campaign(clean_db, org=owner, message=words, networks=("x",))
        shares[owner.id] = await make_share(
            clean_db,
            org=owner,
            campaign_id=campaign,
            account_id=account,
            network="x",
            status="awaiting_review",
            planned_at=datetime.now(UTC) + timedelta(hours=1),
        )
    path = await _link(api, org)
    html, csrf = await _open(api, path)
    assert "Ours only" in html and "Theirs only" not in html
    theirs = shares[other.id]
    for action in ("approve", "skip", "edit"):
        answer = await api.post(
            f"{path}/shares/{theirs}/{action}", data={"csrf": csrf, "text": "hijacked"}
        )
        assert answer.status_code == 404, (action, answer.text)
    assert await _status(clean_db, theirs) == ("awaiting_review", None, None)
    async with clean_db.sessions() as session:
        their_account = await session.scalar(select(Account.id).where(Account.org_id == other.id))
    withdraw = await api.post(f"{path}/accounts/{their_account}/withdraw", data={"csrf": csrf})
    assert withdraw.status_code == 404


async def test_consent_that_expires_is_renewed_ahead_of_time(
    api: httpx.AsyncClient, org: Org, clean_db: Database, keyring: Keyring
) -> None:
    ambassador = await _colleague(api, org)
    in_20_days = datetime.now(UTC) + timedelta(days=20)
    account = await make_colleague_account(
        clean_db,
        org=org,
        keyring=keyring,
        ambassador_id=ambassador,
        network="linkedin",
        consent_expires_at=in_20_days,
    )
    detail = await api.get("/v1/ambassadors/cms-7", headers=_auth(org))
    [shown] = detail.json()["accounts"]
    assert datetime.fromisoformat(shown["consent_expires_at"]) == in_20_days
    path = await _link(api, org)
    html, csrf = await _open(api, path)
    assert "Renew my consent" in html
    renewed = await api.post(f"{path}/accounts/{account}/renew", data={"csrf": csrf})
    assert renewed.status_code == 303
    assert await _ledger(clean_db) == [("granted", "auto", "colleague")]
    async with clean_db.sessions() as session:
        stored = await session.get(Account, account)
        assert await session.scalar(select(Ambassador.id)) == ambassador
    assert stored is not None and stored.consent_expires_at is not None
    assert stored.consent_expires_at - datetime.now(UTC) > timedelta(days=364)
    html, _ = await _open(api, path)
    assert "Renew my consent" not in html


async def test_a_grant_starts_the_networks_consent_lifetime(
    api: httpx.AsyncClient, org: Org, clean_db: Database, keyring: Keyring
) -> None:
    ambassador = await _colleague(api, org)
    lifetime = spec_for(Network.LINKEDIN).consent_lifetime
    assert lifetime == timedelta(days=365)

    async def connect(mode: str) -> Account:
        async with clean_db.sessions.begin() as session:
            connected = await connect_account(
                session=session,
                keyring=keyring,
                org_id=org.id,
                ambassador_id=ambassador,
                network=Network.LINKEDIN,
                handle="alice",
                base_url="https://api.linkedin.com",
                remote_account_id="li-1",
                credentials=Credentials(access_token="t"),
                mode=mode,
                actor="colleague",
                consent_lifetime=lifetime,
                by_network=True,
            )
        return connected.account

    granted = await connect("auto")
    assert granted.consent_expires_at is not None
    assert granted.consent_expires_at - datetime.now(UTC) > timedelta(days=364)
    async with clean_db.sessions.begin() as session:
        await session.execute(
            update(Account)
            .where(Account.id == granted.id)
            .values(consent_expires_at=datetime.now(UTC) + timedelta(days=3))
        )
    # A reconnect of a live account (fresh tokens) is no new grant: the expiry stands.
    again = await connect("auto")
    assert again.consent_expires_at is not None
    assert again.consent_expires_at - datetime.now(UTC) < timedelta(days=4)
    assert await _ledger(clean_db) == [("granted", "auto", "colleague")]


async def test_links_survive_a_key_rotation_until_the_old_key_leaves_the_ring(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    await _colleague(api, org)
    old, newest = new_key(), new_key()
    now = datetime.now(UTC)
    async with clean_db.sessions() as session:
        ambassador = await session.scalar(select(Ambassador))
        assert ambassador is not None
        token, _ = PageLinks(Keyring([old])).issue(ambassador, now=now)
        rotated = await PageLinks(Keyring([newest, old])).open(
            session=session, token=token, now=now
        )
        assert rotated.ambassador.id == ambassador.id
        with pytest.raises(LinkRefused) as refused:
            await PageLinks(Keyring([newest])).open(session=session, token=token, now=now)
        assert refused.value.status == 401
