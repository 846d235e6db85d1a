"""What every network folder provides, so the gateway, the publisher and the metrics service
stay generic: a `NetworkSpec` (its rules and limits), a client (its API) and, where the network
has one, a way to connect an account (`Connector`: OAuth 2, or an app password)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from chorus.common.credentials import Credentials
from chorus.common.failures import RateScope
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.ratelimits import BudgetScope

__all__ = [
    "AccountAccess",
    "AppCredentials",
    "ConnectedIdentity",
    "Connector",
    "Content",
    "Idempotency",
    "Image",
    "LinkCard",
    "Measure",
    "MediaFile",
    "NetworkClient",
    "NetworkSpec",
    "PostCounts",
    "PostResult",
    "RateBudget",
    "ReadBudget",
    "ReadbackScope",
    "RenderedPost",
]


@dataclass(frozen=True, slots=True)
class Image:
    """An image of a campaign, where the CMS hosts it."""

    url: str
    alt: str = ""


@dataclass(frozen=True, slots=True)
class Content:
    """What a campaign says, before any network's rendering."""

    message: str
    url: str
    title: str = ""
    # The link card's description, where the client builds the card itself.
    description: str = ""
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkCard:
    url: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """A campaign as one network will show it. `link` is the share's marker: how a post whose
    answer never came is recognised on the account's timeline."""

    text: str
    link: str
    # Built by us where the network does not build it (Bluesky, LinkedIn).
    card: LinkCard | None = None
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, slots=True)
class Measure:
    """One of a network's limits applied to a rendered post, counted the network's way:
    what the gateway refuses a campaign by, and what its preview shows."""

    # What was counted: "weighted characters", "graphemes", "bytes", "characters".
    counted: str
    length: int
    limit: int
    # The limit in a sentence naming the network and how it counts.
    sentence: str
    # Where the limit is only what is known before the account is (Mastodon's instances).
    note: str = ""

    @property
    def fits(self) -> bool:
        return self.length <= self.limit


@dataclass(frozen=True, slots=True)
class MediaFile:
    """An image's bytes, fetched once by the publisher, uploaded by each account's client."""

    data: bytes
    mime: str
    alt: str = ""


@dataclass(frozen=True, slots=True)
class AccountAccess:
    """Where an account lives and how to act as it. Never logged: `repr` hides the secrets."""

    base_url: str
    credentials: Credentials
    handle: str = ""
    remote_account_id: str | None = None
    # "page" or "profile" where a network has both (Facebook); empty elsewhere.
    kind: str = ""

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
    scope: RateScope = RateScope.ACCOUNT


@dataclass(frozen=True, slots=True)
class ReadBudget:
    """How a network limits the reads a read-back makes, as its documentation says: whose
    budget they spend (`scope`), whether posts spend the same one, and how many requests per
    window Chorus lets its collector make (None where the network publishes no number: then
    only its 429s and headers pace the reads)."""

    scope: BudgetScope
    shared_with_posting: bool
    requests: int | None = None
    window: timedelta = timedelta(minutes=15)
    # Requests a read-back of `posts` posts by `authors` accounts costs at most (counts in
    # batches, and the followers of authors the counts did not carry).
    cost: Callable[[int, int], int] = field(default=lambda posts, authors: posts + authors)


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
    # Every budget the network's answer reported (per account, per app).
    budgets: tuple[RateBudget, ...] = ()
    # What the network's answer to the post already said about it, if anything.
    observed: PostCounts | None = None


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """Chorus's own app on a network (OAuth client), from settings."""

    client_id: str
    client_secret: str
    # Where the network's API and OAuth live (the simulator's in development).
    api_url: str
    auth_url: str = ""
    # The API version pinned in settings (LinkedIn-Version, Graph API vNN.0).
    version: str = ""
    refresh_allowed: bool = False

    def __repr__(self) -> str:
        return f"AppCredentials(client_id={self.client_id!r}, api_url={self.api_url!r})"


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
    async def post(
        self,
        *,
        account: AccountAccess,
        post: RenderedPost,
        media: Sequence[MediaFile],
        key: str,
    ) -> PostResult:
        """Post as `account`, with `media` uploaded through the network's own flow, sending
        `key` where the network deduplicates by it; raises the failures of
        `chorus.common.failures` (TokenExpired where a refresh would help)."""
        ...

    async def find_post(
        self, *, account: AccountAccess, post: RenderedPost, since: datetime
    ) -> PostResult | None:
        """`account`'s post of `post` made since `since`, if there is one: how an attempt whose
        answer never came is reconciled before it is tried again."""
        ...

    async def read_counts(
        self,
        *,
        account: AccountAccess,
        remote_ids: Sequence[str],
        budgets: list[RateBudget] | None = None,
    ) -> dict[str, PostCounts]:
        """Counts for the posts that still exist, in as few requests as the network allows;
        missing ids are left out. Where `budgets` is given, every budget the network's answers
        reported is added to it (the collector holds a spent one)."""
        ...

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        """The account's followers (potential reach), or None where the network hides them."""
        ...

    async def refresh(self, *, account: AccountAccess) -> Credentials:
        """New credentials from the account's refresh token; AuthorizationFailure where there
        is none or the network refuses it (the colleague must connect again)."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectedIdentity:
    """What connecting an account gave: who it is and how to act as it."""

    handle: str
    base_url: str
    remote_account_id: str
    credentials: Credentials
    kind: str = ""
    # When the authorisation runs out with no way to refresh it (LinkedIn's 60 days).
    authorized_until: datetime | None = None
    # Whether the network's id (not the handle) says which remote account this is.
    known_by_id: bool = True


class Connector(Protocol):
    """How a colleague connects an account, without Chorus's users handling their secrets."""

    def authorization_url(
        self, *, app: AppCredentials, redirect_uri: str, state: str, code_challenge: str
    ) -> str:
        """Where to send the colleague's browser (OAuth 2 authorization code, with PKCE)."""
        ...

    async def exchange(
        self,
        *,
        http: NetworkHttp,
        app: AppCredentials,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> list[ConnectedIdentity]:
        """The accounts the authorization gave (Facebook: each page the colleague manages)."""
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
    # The post's text against each of the network's text limits, the first one the limit a
    # reader knows the network by (X's 280, Bluesky's 300).
    measure: Callable[[RenderedPost], tuple[Measure, ...]]
    client: Callable[[NetworkHttp, AppCredentials | None], NetworkClient]
    # How an account is connected (None: only by the development route that takes a token).
    connector: Connector | None = None
    # Where Chorus registers its app on each server the first time a colleague connects there
    # (Mastodon): (http, instance URL, redirect URI) -> the app on that instance.
    register_app: Callable[[NetworkHttp, str, str], Awaitable[AppCredentials]] | None = None
    # Or, where the network has app passwords (Bluesky): (http, service, identifier,
    # password) -> the connected identity. The password is used once and never stored.
    password_sign_in: (
        Callable[[NetworkHttp, str, str, str], Awaitable[ConnectedIdentity]] | None
    ) = None
    # The network's public API, authorisation page and pinned version, unless settings say.
    api_url: str = ""
    auth_url: str = ""
    version: str = ""
    # Extra rules on a connected account's handle, if any (None: fine).
    handle_problem: Callable[[str], str | None] = field(default=lambda _handle: None)
    # Account kinds Chorus may not post to (a Facebook profile): their shares are manual,
    # with this link for the colleague to share by hand.
    manual_link: Callable[[str, Content], str | None] = field(default=lambda _kind, _c: None)
    # Most images per post, and bytes per image.
    max_images: int = 4
    max_image_bytes: int = 5 << 20
    # Where the network lets us name the record (Bluesky): the name of a share's record, from
    # values fixed before it was staged (its campaign's creation time and its own id), so
    # every attempt writes the same record. None: the share's idempotency key is sent.
    record_key: Callable[[datetime, uuid.UUID], str] | None = None
    # How long a colleague's consent to post on this network lasts before it must be given
    # again (LinkedIn's terms: a year); None where the network sets no limit.
    consent_lifetime: timedelta | None = None
    # How the network limits read-backs (None: no limit known; only its 429s hold reads).
    read_budget: ReadBudget | None = None
