"""What every network module offers, so the publisher and the metrics service stay generic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chorus.common.networks.kinds import Network

__all__ = ["AccountAccess", "NetworkClient", "PostCounts", "PostResult", "RateBudget"]


@dataclass(frozen=True, slots=True)
class AccountAccess:
    """Where an account lives and how to act as it. Never logged: `repr` hides the token."""

    base_url: str
    access_token: str
    remote_account_id: str | None = None

    def __repr__(self) -> str:
        return f"AccountAccess(base_url={self.base_url!r}, access_token='***')"


@dataclass(frozen=True, slots=True)
class RateBudget:
    """What the network's own headers said is left, and when it refills."""

    limit: int | None
    remaining: int | None
    reset_at: datetime | None


@dataclass(frozen=True, slots=True)
class PostCounts:
    """Counts read back for one post. None means "this network does not report it", not zero.

    `author_followers` is filled where the network reports it with the post (Mastodon does),
    which saves a request per account.
    """

    reshares: int | None
    likes: int | None
    replies: int | None
    impressions: int | None
    author_followers: int | None = None


@dataclass(frozen=True, slots=True)
class PostResult:
    remote_id: str
    url: str | None
    budget: RateBudget | None = None
    # What the network's answer to the post already said about it, if anything.
    observed: PostCounts | None = None


class NetworkClient(Protocol):
    network: Network
    # How long the network recognises a repeated idempotency key (Mastodon: 1 hour); None
    # where it has no such thing. Past it, a retry must look the post up first (`find_post`).
    idempotency_window: timedelta | None

    async def post(self, *, account: AccountAccess, text: str, idempotency_key: str) -> PostResult:
        """Post `text` as `account`; raises the failures of `chorus.common.failures`."""
        ...

    async def read_counts(
        self, *, account: AccountAccess, remote_ids: Sequence[str]
    ) -> dict[str, PostCounts]:
        """Counts for the posts that still exist, in as few requests as the network allows;
        missing ids are left out. `account` authenticates the reads; the posts may belong to
        other accounts on the same server."""
        ...

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        """The account's followers (potential reach), or None where the network hides them."""
        ...

    async def find_post(
        self, *, account: AccountAccess, text: str, since: datetime
    ) -> PostResult | None:
        """`account`'s post of `text` made since `since`, if there is one: how an attempt whose
        answer never came is reconciled before it is tried again."""
        ...
