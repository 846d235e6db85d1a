"""The simulator's memory: accounts, every post ever accepted, idempotency keys, and faults.

Shared by every network module, so a test asks one place "how many posts, any duplicates?".
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["Faults", "Post", "SimAccount", "SimState"]


@dataclass
class SimAccount:
    id: str
    network: str
    username: str
    token: str
    followers: int = 0


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


@dataclass
class Faults:
    """What goes wrong, for tests: a fixed latency, one-shot faults in order, random rates.

    Kinds: "429" (rate limited, nothing stored), "500" and "503" (nothing stored),
    "timeout" (the post IS stored, then the answer hangs for `hang_seconds`).
    """

    latency_ms: float = 0.0
    next: list[str] = field(default_factory=list)
    hang_seconds: float = 30.0

    def take(self) -> str | None:
        return self.next.pop(0) if self.next else None


@dataclass
class RateWindow:
    started: float
    used: int = 0


@dataclass
class SimState:
    accounts: dict[str, SimAccount] = field(default_factory=dict)
    by_token: dict[str, SimAccount] = field(default_factory=dict)
    posts: dict[str, Post] = field(default_factory=dict)
    # (account id, key) -> (post id, when the key was stored, on the simulator's clock)
    idempotency: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    windows: dict[tuple[str, str], RateWindow] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    last_post_at: float | None = None
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

    def add_account(self, *, network: str, username: str, followers: int) -> SimAccount:
        account = SimAccount(
            id=self.new_id(),
            network=network,
            username=username,
            token=secrets.token_urlsafe(24),
            followers=followers,
        )
        self.accounts[account.id] = account
        self.by_token[account.token] = account
        return account

    def add_post(
        self, *, network: str, account: SimAccount, text: str, idempotency_key: str | None
    ) -> Post:
        post = Post(
            id=self.new_id(),
            network=network,
            account_id=account.id,
            text=text,
            idempotency_key=idempotency_key,
            created_at=datetime.fromtimestamp(self.now(), UTC),
        )
        self.posts[post.id] = post
        self.last_post_at = time.time()
        return post

    def take_rate(self, *, bucket: str, account_id: str, limit: int, period: float) -> RateWindow:
        """Count one request against a fixed window; the caller compares `used` to `limit`."""
        now = self.now()
        key = (bucket, account_id)
        window = self.windows.get(key)
        if window is None or now >= window.started + period:
            window = self.windows[key] = RateWindow(started=now - now % period)
        window.used += 1
        return window

    def duplicates(self) -> int:
        """Posts beyond the first with the same account and text: what must never happen."""
        seen = Counter((p.network, p.account_id, p.text) for p in self.posts.values())
        return sum(n - 1 for n in seen.values() if n > 1)
