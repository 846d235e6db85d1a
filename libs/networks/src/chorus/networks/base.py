"""What every network folder provides, so the gateway, the publisher and the metrics service
stay generic: a `NetworkSpec` (its rules and limits) and a client (its API)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from chorus.common.credentials import Credentials
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network

__all__ = [
    "AccountAccess",
    "Content",
    "Idempotency",
    "NetworkClient",
    "NetworkSpec",
    "PostCounts",
    "PostResult",
    "RateBudget",
    "ReadbackScope",
    "RenderedPost",
]


@dataclass(frozen=True, slots=True)
class Content:
    """What a campaign says, before any network's rendering."""

    message: str
    url: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """A campaign as one network will show it. `link` is the share's marker: how a post whose
    answer never came is recognised on the account's timeline."""

    text: str
    link: str


@dataclass(frozen=True, slots=True)
class AccountAccess:
    """Where an account lives and how to act as it. Never logged: `repr` hides the secrets."""

    base_url: str
    credentials: Credentials
    handle: str = ""
    remote_account_id: str | None = None

    @property
    def token(self) -> str:
        return self.credentials.access_token

    def __repr__(self) -> str:
        return f"AccountAccess(base_url={self.base_url!r}, handle={self.handle!r})"


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


class Idempotency(enum.Enum):
    """How a network keeps a repeated attempt from becoming a second post."""

    # It remembers a key we send for `idempotency_window` (Mastodon's Idempotency-Key).
    KEY = "key"
    # We choose the record's key, and writing it again is the same record (Bluesky putRecord).
    RECORD_KEY = "record_key"
    # Nothing: an attempt that may have posted is looked up on the account before any retry.
    NONE = "none"


class ReadbackScope(enum.Enum):
    """Whose token reads a post's counts back."""

    # Any connected account of the post's organisation on the same server (public counts).
    SERVER = "server"
    # Only the author's own token (figures the network shows to the author alone).
    ACCOUNT = "account"


class NetworkClient(Protocol):
    async def post(self, *, account: AccountAccess, post: RenderedPost, key: str) -> PostResult:
        """Post as `account`, sending `key` where the network deduplicates by it; raises the
        failures of `chorus.common.failures`."""
        ...

    async def find_post(
        self, *, account: AccountAccess, post: RenderedPost, since: datetime
    ) -> PostResult | None:
        """`account`'s post of `post` made since `since`, if there is one: how an attempt whose
        answer never came is reconciled before it is tried again."""
        ...

    async def read_counts(
        self, *, account: AccountAccess, remote_ids: Sequence[str]
    ) -> dict[str, PostCounts]:
        """Counts for the posts that still exist, in as few requests as the network allows;
        missing ids are left out."""
        ...

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        """The account's followers (potential reach), or None where the network hides them."""
        ...


@dataclass(frozen=True)
class NetworkSpec:
    """A network's rules, exported by its folder to the registry."""

    network: Network
    label: str
    idempotency: Idempotency
    # How long the network recognises a repeated key; None where it has no such thing.
    idempotency_window: timedelta | None
    # After an ambiguous attempt (sent, no answer), how long the network gets to finish it
    # before anything is retried: a retry racing the first request could post twice.
    settle_after_ambiguous: timedelta
    readback_scope: ReadbackScope
    # Post ids per read-back request.
    readback_batch: int
    # What the network reports: a kind not here is None in every sample, never 0.
    reports: frozenset[str]
    render: Callable[[Content], RenderedPost]
    problems: Callable[[Content], list[str]]
    client: Callable[[NetworkHttp], NetworkClient]
    # Extra rules on a connected account's handle, if any (None: fine).
    handle_problem: Callable[[str], str | None] = field(default=lambda _handle: None)
