"""A real Bluesky network (PLC, PDS, AppView from @atproto/dev-env, Node 22) runs locally on our
own PostgreSQL, and behaves as the publisher and the metrics collector expect (networks.md §5):
putRecord with a fixed TID rkey is idempotent, a missing record is 400 RecordNotFound, another
account's like shows up as likeCount through the PDS, and refreshSession rotates the tokens.

It installs Node 22 and dev-env into a cache outside the checkout on first use (minutes), and
fails, never skips, when the network cannot start."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chorus.devstack.bluesky import LocalBluesky
from chorus.devstack.processes import ServerFailedToStart, free_port

pytestmark = pytest.mark.integration

T = TypeVar("T")

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def tid(when: datetime, clock_id: int = 0) -> str:
    """An AT Protocol TID: 53 bits of microseconds since the epoch, 10 bits of clock id."""
    value = (int(when.timestamp() * 1_000_000) << 10) | (clock_id & 0x3FF)
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -5, -5))


# The rkey a share job would derive once and persist before publishing.
FIXED_RKEY = tid(datetime(2026, 11, 22, 10, 0, tzinfo=UTC), clock_id=7)


async def eventually(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float
) -> T:
    """Call `fetch` until `done` holds (a short pause between calls); fail with the last value
    at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the PDS signs it; we only read it)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def test_tid_rkey_is_well_formed() -> None:
    assert TID_RE.match(FIXED_RKEY), FIXED_RKEY


async def test_put_record_with_a_fixed_rkey_is_idempotent(bsky: LocalBluesky) -> None:
    alice = await bsky.create_account("alice")
    assert alice.handle.endswith(".test")
    assert alice.did.startswith("did:plc:")
    token = await bsky.access_token(alice)
    record = {
        "$type": "app.bsky.feed.post",
        "text": "We shipped! https://example.com/launch",
        "createdAt": "2026-11-22T10:00:00.000Z",
    }
    body = {"repo": alice.did, "collection": "app.bsky.feed.post", "rkey": FIXED_RKEY}
    first = await bsky.xrpc(
        "POST", "com.atproto.repo.putRecord", token=token, json_body={**body, "record": record}
    )
    assert first.status_code == 200, first.text
    second = await bsky.xrpc(
        "POST", "com.atproto.repo.putRecord", token=token, json_body={**body, "record": record}
    )
    assert second.status_code == 200, second.text
    assert first.json()["uri"] == f"at://{alice.did}/app.bsky.feed.post/{FIXED_RKEY}"
    assert (second.json()["uri"], second.json()["cid"]) == (
        first.json()["uri"],
        first.json()["cid"],
    )
    assert "commit" in first.json()
    assert "commit" not in second.json()  # nothing changed, so no new commit

    # "Did my timed-out write land?": getRecord answers for the rkey, and 400 for another.
    found = await bsky.xrpc(
        "GET",
        "com.atproto.repo.getRecord",
        params={"repo": alice.did, "collection": "app.bsky.feed.post", "rkey": FIXED_RKEY},
    )
    assert found.status_code == 200
    assert found.json()["cid"] == first.json()["cid"]
    missing = await bsky.xrpc(
        "GET",
        "com.atproto.repo.getRecord",
        params={
            "repo": alice.did,
            "collection": "app.bsky.feed.post",
            "rkey": tid(datetime(2026, 11, 22, 10, 0, tzinfo=UTC), clock_id=8),
        },
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "RecordNotFound"


async def test_likes_reposts_and_follows_from_another_account_show_as_counts(
    bsky: LocalBluesky,
) -> None:
    alice = await bsky.create_account("alice")
    bob = await bsky.create_account("bob")
    uri, cid = await bsky.post(alice, "Counts, please")

    await bsky.like(bob, uri, cid)
    await bsky.repost(bob, uri, cid)

    def counted(posts: list[dict[str, Any]]) -> bool:
        return bool(posts) and posts[0]["likeCount"] == 1 and posts[0]["repostCount"] == 1

    posts = await eventually(lambda: bsky.get_posts(alice, uri), counted, timeout=15)
    assert posts[0]["uri"] == uri
    assert posts[0]["cid"] == cid

    # Through the PDS it needs a user's token (401 AuthMissing without)...
    anonymous = await bsky.xrpc("GET", "app.bsky.feed.getPosts", params={"uris": [uri]})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "AuthMissing"
    # ...the AppView itself answers unauthenticated, as public.api.bsky.app does.
    direct = await bsky.xrpc(
        "GET", "app.bsky.feed.getPosts", params={"uris": [uri]}, base_url=bsky.appview_url
    )
    assert direct.status_code == 200
    assert direct.json()["posts"][0]["likeCount"] == 1

    await bsky.follow(bob, alice.did)

    async def profile() -> dict[str, Any]:
        response = await bsky.xrpc(
            "GET",
            "app.bsky.actor.getProfile",
            params={"actor": alice.did},
            token=await bsky.access_token(bob),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    followed = await eventually(profile, lambda p: p.get("followersCount") == 1, timeout=15)
    assert followed["handle"] == alice.handle


async def test_app_password_session_and_refresh_rotates(bsky: LocalBluesky) -> None:
    carol = await bsky.create_account("carol")
    app_password = await bsky.create_app_password(carol, "chorus-test")
    assert re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", app_password), app_password

    session = await bsky.create_session(carol.handle, app_password)
    assert session["did"] == carol.did
    claims = jwt_claims(session["accessJwt"])
    assert claims["sub"] == carol.did

    refreshed = await bsky.xrpc(
        "POST", "com.atproto.server.refreshSession", token=session["refreshJwt"]
    )
    assert refreshed.status_code == 200, refreshed.text
    rotated = refreshed.json()
    assert rotated["did"] == carol.did
    assert rotated["refreshJwt"] != session["refreshJwt"]
    assert jwt_claims(rotated["refreshJwt"])["jti"] != jwt_claims(session["refreshJwt"])["jti"]
    # (The access token carries no id: made in the same second it can be byte-for-byte equal.)
    me = await bsky.xrpc("GET", "com.atproto.server.getSession", token=rotated["accessJwt"])
    assert me.status_code == 200
    assert me.json()["handle"] == carol.handle

    # The replaced refresh token still works for a grace period (2 h in the PDS source)...
    again = await bsky.xrpc(
        "POST", "com.atproto.server.refreshSession", token=session["refreshJwt"]
    )
    assert again.status_code == 200, again.text
    # ...to the same successor: a retried refresh (lost response) does not fork the session.
    assert jwt_claims(again.json()["refreshJwt"])["jti"] == jwt_claims(rotated["refreshJwt"])["jti"]

    # The access token is not a refresh token, and garbage is no token at all: 400, by name.
    wrong = await bsky.xrpc("POST", "com.atproto.server.refreshSession", token=rotated["accessJwt"])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "InvalidToken"
    garbage = await bsky.xrpc("GET", "com.atproto.server.getSession", token="not-a-jwt")
    assert garbage.status_code == 400
    assert garbage.json()["error"] == "InvalidToken"


def test_a_network_without_its_postgresql_fails_loudly_with_the_log() -> None:
    root = Path(tempfile.mkdtemp(prefix="chorus-bsky-"))
    nothing_there = f"postgresql+asyncpg://chorus:chorus@127.0.0.1:{free_port()}/chorus"
    # A deadline far beyond any start: the message says the process died (not that the
    # deadline passed), which is what shows its death was noticed; no timing is asserted
    # (a cold first start of Node under a loaded suite took 107 s once).
    network = LocalBluesky(root=root, postgres_dsn=nothing_there, start_timeout=600)
    with pytest.raises(ServerFailedToStart, match="exited with 1 before READY") as failed:
        network.start()
    assert "ECONNREFUSED" in str(failed.value)  # the log's tail says why
    assert not network.alive()
