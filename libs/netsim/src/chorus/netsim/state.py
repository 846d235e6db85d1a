"""The simulator's memory: accounts, every post ever accepted, idempotency keys, and faults.

Shared by every network module, so a test asks one place "how many posts, any duplicates?".
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from chorus.netsim.grants import AuthCode, OAuthApp, RefreshGrant
from chorus.netsim.limits import Limits

__all__ = ["Faults", "Media", "Post", "SimAccount", "SimState", "TokenProblem"]

TokenProblem = Literal["invalid", "expired", "revoked"]


@dataclass
class SimAccount:
    id: str
    network: str
    username: str
    token: str
    followers: int = 0
    # Facebook: "page" (posts, never-expiring token) or "user" (manages `pages`, logs in).
    kind: str = "member"
    pages: list[str] = field(default_factory=list)


@dataclass
class Post:
    id: str
    network: str
    account_id: str
    text: str
    idempotency_key: str | None
    created_at: datetime
    reshares: int = 0
    likes: int = 0
    replies: int = 0
    quotes: int = 0
    impressions: int = 0
    media_ids: list[str] = field(default_factory=list)
    # What the network keeps beside the text: LinkedIn's `content`, Facebook's `link`.
    content: dict[str, Any] | None = None


@dataclass
class Media:
    id: str
    network: str
    account_id: str
    size: int
    content_type: str
    description: str | None
    created_at: float
    # Mastodon processes uploads asynchronously; LinkedIn's upload slot is empty until PUT.
    ready_at: float
    uploaded: bool = True
    source_url: str | None = None


@dataclass
class Faults:
    """What goes wrong, for tests: a fixed latency, one-shot faults in order, random rates.

    Kinds: "429" (rate limited, nothing stored), "500" and "503" (nothing stored),
    "timeout" (the post IS stored, then the answer hangs for `hang_seconds`).
    """

    latency_ms: float = 0.0
    next: list[str] = field(default_factory=list)
    hang_seconds: float = 30.0
    # Met by read-backs only.
    reads: list[str] = field(default_factory=list)

    def take(self) -> str | None:
        return self.next.pop(0) if self.next else None

    def take_read(self) -> str | None:
        return self.reads.pop(0) if self.reads else None

    async def lag(self) -> None:
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)


@dataclass
class RateWindow:
    started: float
    used: int = 0


@dataclass
class SimState:
    accounts: dict[str, SimAccount] = field(default_factory=dict)
    by_token: dict[str, SimAccount] = field(default_factory=dict)
    posts: dict[str, Post] = field(default_factory=dict)
    # Kept as posts come in, so `/_sim/stats` answers in constant time: a bench polls it
    # while it runs, and counting every post per poll cost a third of the simulator's CPU.
    _same_posts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _posts_by_network: Counter[str] = field(default_factory=Counter)
    _duplicates_by_network: Counter[str] = field(default_factory=Counter)
    # (account id, key) -> (post id, when the key was stored, on the simulator's clock)
    idempotency: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    windows: dict[tuple[str, str], RateWindow] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    last_post_at: float | None = None
    # token -> expiry on the simulator's clock; tokens absent here never expire.
    token_expiry: dict[str, float] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    media: dict[str, Media] = field(default_factory=dict)
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    # Seconds the simulator's clock runs ahead of the wall clock (`/_sim/clock`): how a test
    # lets an hour pass, for idempotency retention and rate-limit windows, in no time.
    clock_offset: float = 0.0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def now(self) -> float:
        return time.time() + self.clock_offset

    def remembered(self, *, account_id: str, key: str, retention: float) -> str | None:
        """The post made with this idempotency key, while the network still keeps the key."""
        stored = self.idempotency.get((account_id, key))
        if stored is None or self.now() - stored[1] >= retention:
            return None
        return stored[0]

    def remember(self, *, account_id: str, key: str, post_id: str) -> None:
        self.idempotency[(account_id, key)] = (post_id, self.now())

    def new_id(self) -> str:
        # Mastodon ids are snowflake-like decimal strings: time in the high bits.
        return str((int(self.now() * 1000) << 16) + next(self._ids) % 65536)

    def reset(self) -> None:
        fresh = SimState()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def add_account(
        self,
        *,
        network: str,
        username: str,
        followers: int,
        kind: str = "member",
        token_ttl: float | None = None,
    ) -> SimAccount:
        account = SimAccount(
            id=self.new_id(),
            network=network,
            username=username,
            token=secrets.token_urlsafe(24),
            followers=followers,
            kind=kind,
        )
        self.accounts[account.id] = account
        self.by_token[account.token] = account
        if token_ttl is not None:
            self.token_expiry[account.token] = self.now() + token_ttl
        return account

    def issue_token(self, account: SimAccount, *, ttl: float | None) -> str:
        token = secrets.token_urlsafe(24)
        self.by_token[token] = account
        if ttl is not None:
            self.token_expiry[token] = self.now() + ttl
        return token

    def lookup(self, token: str, network: str) -> SimAccount | TokenProblem:
        """The account behind a token, or why there is none. `by_token` is the authority: a
        token popped from it is simply unknown."""
        account = self.by_token.get(token)
        if account is None or account.network != network:
            return "revoked" if token in self.revoked else "invalid"
        expiry = self.token_expiry.get(token)
        if expiry is not None and self.now() >= expiry:
            return "expired"
        return account

    def revoke_token(self, token: str) -> bool:
        self.revoked.add(token)
        self.token_expiry.pop(token, None)
        return self.by_token.pop(token, None) is not None

    def revoke_account(self, account_id: str) -> int:
        """Every access and refresh token of the account stops working (the user removed the
        app)."""
        tokens = [t for t, a in self.by_token.items() if a.id == account_id]
        for token in tokens:
            self.revoke_token(token)
        for token in [t for t, g in self.refresh_tokens.items() if g.account_id == account_id]:
            del self.refresh_tokens[token]
        return len(tokens)

    def add_post(
        self,
        *,
        network: str,
        account: SimAccount,
        text: str,
        idempotency_key: str | None,
        media_ids: list[str] | None = None,
        content: dict[str, Any] | None = None,
    ) -> Post:
        post = Post(
            id=self.new_id(),
            network=network,
            account_id=account.id,
            text=text,
            idempotency_key=idempotency_key,
            created_at=datetime.fromtimestamp(self.now(), UTC),
            media_ids=list(media_ids or []),
            content=content,
        )
        self.posts[post.id] = post
        self._posts_by_network[network] += 1
        same = (network, account.id, text)
        self._same_posts[same] += 1
        if self._same_posts[same] > 1:
            self._duplicates_by_network[network] += 1
        self.last_post_at = time.time()
        return post

    def window(self, *, bucket: str, account_id: str, period: float) -> RateWindow:
        """The current fixed window (a 86400 s window starts at UTC midnight), uncounted."""
        now = self.now()
        key = (bucket, account_id)
        window = self.windows.get(key)
        if window is None or now >= window.started + period:
            window = self.windows[key] = RateWindow(started=now - now % period)
        return window

    def take_rate(self, *, bucket: str, account_id: str, limit: int, period: float) -> RateWindow:
        """Count one request against a fixed window; the caller compares `used` to `limit`."""
        window = self.window(bucket=bucket, account_id=account_id, period=period)
        window.used += 1
        return window

    def add_media(
        self,
        *,
        network: str,
        account: SimAccount,
        size: int,
        content_type: str,
        description: str | None = None,
        processing: float = 0.0,
        uploaded: bool = True,
        source_url: str | None = None,
    ) -> Media:
        now = self.now()
        media = Media(
            id=self.new_id(),
            network=network,
            account_id=account.id,
            size=size,
            content_type=content_type,
            description=description,
            created_at=now,
            ready_at=now + processing,
            uploaded=uploaded,
            source_url=source_url,
        )
        self.media[media.id] = media
        return media

    def network_posts(self, network: str, account_id: str | None = None) -> list[Post]:
        """The network's posts, newest first."""
        return sorted(
            (
                p
                for p in self.posts.values()
                if p.network == network and (account_id is None or p.account_id == account_id)
            ),
            key=lambda p: int(p.id),
            reverse=True,
        )

    def duplicates(self, network: str | None = None) -> int:
        """Posts beyond the first with the same account and text: what must never happen."""
        if network is None:
            return self._duplicates_by_network.total()
        return self._duplicates_by_network[network]

    def post_count(self, network: str) -> int:
        return self._posts_by_network[network]
