"""The test-facing side of the simulator, under /_sim: make accounts, set counts, inject faults,
and read back every post (to count duplicates)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from chorus.netsim.state import Faults, SimState

__all__ = ["control_router"]

Network = Literal["mastodon"]


class NewAccounts(BaseModel):
    network: Network = "mastodon"
    username: str = Field(default="user", min_length=1, max_length=30)
    count: int = Field(default=1, ge=1, le=100_000)
    followers: int = Field(default=0, ge=0)


class FaultPlan(BaseModel):
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    next: list[Literal["429", "500", "503", "timeout"]] = Field(default_factory=list)
    hang_seconds: float = Field(default=30.0, ge=0, le=600)


class Counts(BaseModel):
    reshares: int | None = Field(default=None, ge=0)
    likes: int | None = Field(default=None, ge=0)
    replies: int | None = Field(default=None, ge=0)


class Followers(BaseModel):
    followers: int = Field(ge=0)


class ClockStep(BaseModel):
    advance_seconds: float = Field(gt=0, le=30 * 86400)


def control_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/_sim")

    @router.post("/accounts")
    async def add_accounts(body: NewAccounts, request: Request) -> list[dict[str, object]]:
        base = str(request.base_url).rstrip("/") + f"/{body.network}"
        made: list[dict[str, object]] = []
        for i in range(body.count):
            name = body.username if body.count == 1 else f"{body.username}{i}"
            account = state.add_account(
                network=body.network, username=name, followers=body.followers
            )
            made.append(
                {
                    "id": account.id,
                    "username": account.username,
                    "token": account.token,
                    "base_url": base,
                    "followers": account.followers,
                }
            )
        return made

    @router.post("/faults")
    async def set_faults(body: FaultPlan) -> FaultPlan:
        state.faults = Faults(
            latency_ms=body.latency_ms, next=list(body.next), hang_seconds=body.hang_seconds
        )
        return body

    @router.post("/posts/{post_id}/counts")
    async def set_counts(post_id: str, body: Counts) -> dict[str, int]:
        post = state.posts.get(post_id)
        if post is None:
            raise HTTPException(404, "no such post")
        for name in ("reshares", "likes", "replies"):
            value = getattr(body, name)
            if value is not None:
                setattr(post, name, value)
        return {"reshares": post.reshares, "likes": post.likes, "replies": post.replies}

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
        over, new posts are dated later."""
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
        }

    @router.get("/posts")
    async def posts(account_id: str | None = None) -> list[dict[str, object]]:
        return [
            {
                "id": p.id,
                "network": p.network,
                "account_id": p.account_id,
                "text": p.text,
                "idempotency_key": p.idempotency_key,
                "created_at": p.created_at.isoformat(),
            }
            for p in state.posts.values()
            if account_id is None or p.account_id == account_id
        ]

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        fresh = SimState()
        for name in ("accounts", "by_token", "posts", "idempotency", "faults", "windows"):
            setattr(state, name, getattr(fresh, name))
        state.requests.clear()
        state.last_post_at = None
        state.clock_offset = 0.0
        return {"status": "reset"}

    return router
