"""The test-facing side of the simulator, under /_sim: make accounts and apps, set counts and
limits, inject faults, revoke tokens, and read back every post (to count duplicates)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from chorus.netsim.control_models import (
    AppRequest,
    ClockStep,
    Counts,
    FaultPlan,
    Followers,
    LimitsPatch,
    NewAccounts,
)
from chorus.netsim.oauth import register_app
from chorus.netsim.png import solid_png
from chorus.netsim.state import Faults, Post, SimAccount, SimState

__all__ = ["control_router"]

# How long a token made by /_sim/accounts lives when the test does not say: the network's own.
_TTL = {"x": 7200.0, "linkedin": 60 * 86400.0, "facebook.user": 60 * 86400.0}
NETWORKS = ("mastodon", "x", "linkedin", "facebook")


def remote_id(post: Post) -> str:
    """The id the network itself hands out for the post."""
    if post.network == "linkedin":
        return f"urn:li:share:{post.id}"
    if post.network == "facebook":
        return f"{post.account_id}_{post.id}"
    return post.id


def _local_id(any_id: str) -> str:
    return any_id.rsplit(":", 1)[-1].rsplit("_", 1)[-1]


def _account_json(account: SimAccount, base: str) -> dict[str, Any]:
    made: dict[str, Any] = {
        "id": account.id,
        "username": account.username,
        "token": account.token,
        "base_url": base,
        "followers": account.followers,
    }
    if account.network == "linkedin":
        made["urn"] = f"urn:li:person:{account.id}"
    if account.network == "facebook":
        made["kind"] = account.kind
    return made


def control_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/_sim")

    def make(body: NewAccounts, name: str, kind: str) -> SimAccount:
        key = f"facebook.{kind}" if body.network == "facebook" else body.network
        ttl = _TTL.get(key) if body.token_ttl_seconds is None else body.token_ttl_seconds or None
        return state.add_account(
            network=body.network,
            username=name,
            followers=body.followers,
            kind=kind if body.network == "facebook" else "member",
            token_ttl=ttl,
        )

    @router.post("/accounts")
    async def add_accounts(body: NewAccounts, request: Request) -> list[dict[str, object]]:
        base = str(request.base_url).rstrip("/") + f"/{body.network}"
        made: list[dict[str, object]] = []
        for i in range(body.count):
            name = body.username if body.count == 1 else f"{body.username}{i}"
            kind = body.kind if body.network == "facebook" else "member"
            account = make(body, name, kind)
            answer = _account_json(account, base)
            if kind == "user":
                pages = [make(body, f"{name}-page{n}", "page") for n in range(body.pages)]
                account.pages = [p.id for p in pages]
                answer["pages"] = [_account_json(p, base) for p in pages]
            made.append(answer)
        return made

    @router.post("/apps")
    async def add_app(body: AppRequest) -> dict[str, object]:
        """An OAuth app the network knows (Mastodon apps also come from /api/v1/apps)."""
        app = register_app(
            state,
            network=body.network,
            name=body.name,
            redirect_uris=body.redirect_uris,
            scopes=body.scopes,
            partner=body.partner,
        )
        return asdict(app)

    @router.post("/tokens/{token}/revoke")
    async def revoke_token(token: str) -> dict[str, bool]:
        return {"revoked": state.revoke_token(token)}

    @router.post("/accounts/{account_id}/revoke")
    async def revoke_account(account_id: str) -> dict[str, int]:
        if account_id not in state.accounts:
            raise HTTPException(404, "no such account")
        return {"revoked": state.revoke_account(account_id)}

    @router.get("/limits")
    async def get_limits() -> dict[str, object]:
        return asdict(state.limits)

    @router.post("/limits")
    async def set_limits(body: LimitsPatch) -> dict[str, object]:
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(state.limits, name, value)
        return asdict(state.limits)

    @router.post("/faults")
    async def set_faults(body: FaultPlan) -> FaultPlan:
        state.faults = Faults(
            latency_ms=body.latency_ms,
            next=list(body.next),
            hang_seconds=body.hang_seconds,
            reads=list(body.reads),
        )
        return body

    @router.post("/posts/{post_id:path}/counts")
    async def set_counts(post_id: str, body: Counts) -> dict[str, int]:
        """Counts by the simulator's id or the network's (`urn:li:share:N`, `page_N`)."""
        post = state.posts.get(post_id) or state.posts.get(_local_id(post_id))
        if post is None:
            raise HTTPException(404, "no such post")
        names = ("reshares", "likes", "replies", "quotes", "impressions")
        for name in names:
            value = getattr(body, name)
            if value is not None:
                setattr(post, name, value)
        return {name: getattr(post, name) for name in names}

    @router.post("/accounts/{account_id}/followers")
    async def set_followers(account_id: str, body: Followers) -> dict[str, int]:
        account = state.accounts.get(account_id)
        if account is None:
            raise HTTPException(404, "no such account")
        account.followers = body.followers
        return {"followers": account.followers}

    @router.post("/clock")
    async def advance_clock(body: ClockStep) -> dict[str, float]:
        """Let time pass for the simulator only: idempotency keys age out, rate windows roll
        over, tokens and codes expire, new posts are dated later."""
        state.clock_offset += body.advance_seconds
        return {"offset_seconds": state.clock_offset}

    @router.get("/stats")
    async def stats() -> dict[str, object]:
        return {
            "posts": len(state.posts),
            "duplicates": state.duplicates(),
            "accounts": len(state.accounts),
            "last_post_at": state.last_post_at,
            "requests": dict(state.requests),
            # Injected faults not yet met by a request (`/_sim/faults` "next").
            "faults_left": len(state.faults.next),
            "by_network": {
                n: {
                    "posts": state.post_count(n),
                    "duplicates": state.duplicates(n),
                }
                for n in NETWORKS
            },
        }

    @router.get("/posts")
    async def posts(
        account_id: str | None = None, network: str | None = None
    ) -> list[dict[str, object]]:
        return [
            {
                "id": p.id,
                "remote_id": remote_id(p),
                "network": p.network,
                "account_id": p.account_id,
                "text": p.text,
                "idempotency_key": p.idempotency_key,
                "created_at": p.created_at.isoformat(),
                "media_ids": p.media_ids,
                "content": p.content,
            }
            for p in state.posts.values()
            if (account_id is None or p.account_id == account_id)
            and (network is None or p.network == network)
        ]

    @router.get("/media")
    async def media(network: str | None = None) -> list[dict[str, object]]:
        return [asdict(m) for m in state.media.values() if network in (None, m.network)]

    @router.get("/images/{name}.png")
    async def image(name: str) -> Response:
        return Response(solid_png(name), media_type="image/png")

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        state.reset()
        return {"status": "reset"}

    return router
