"""The shared schema. Every tenant-owned row carries `org_id`, and every query filters on it.

Statuses are text with CHECK constraints rather than PostgreSQL enums: a later state is one
constraint swap in a migration, not an enum rewrite. Their values live in
`chorus.common.shares.status`, and only `chorus.common.shares` changes a share's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chorus.common.kinds import CampaignStatus, Network, ShareStatus

__all__ = [
    "AMBASSADOR_STATUSES",
    "Account",
    "Ambassador",
    "ApiKey",
    "Base",
    "Campaign",
    "ConsentEvent",
    "IdempotencyRecord",
    "LatestMetrics",
    "MetricReadback",
    "MetricSample",
    "OAuthApp",
    "OAuthFlow",
    "Organisation",
    "OutboxEvent",
    "RateHold",
    "ReadPace",
    "Share",
    "ShareClicks",
    "ShareLink",
    "WebhookDelivery",
    "WebhookEndpoint",
]


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in sorted(values))})"


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {
        uuid.UUID: UUID(as_uuid=True),
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))


def _created() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)


NETWORK_NAMES = tuple(n.value for n in Network)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(200))
    # A campaign without a window spreads over the planner's horizon, unless this is false:
    # then it posts at once.
    spread_now: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    """One of an organisation's API keys. A key is usable while not revoked and not past
    `expires_at` (set by a rotation's grace period, or when it was created)."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _id()
    org_id: Mapped[uuid.UUID] = _org()
    name: Mapped[str] = mapped_column(String(200))
    # SHA-256 of the key, not bcrypt or argon2: those slow down guessing a human's password,
    # but a key is 256 random bits that no number of guesses reaches, and a slow hash would
    # cost every request its CPU time. A plain digest also finds the key by index.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key's first characters, for people telling keys apart; NULL for keys from before
    # there were several (only their hash was kept).
    prefix: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class IdempotencyRecord(Base):
    """A POST sent with an `Idempotency-Key`: in flight while `status_code` is NULL (held by
    `owner` until `locked_until`), then the answer a retry gets back."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index(None, "created_at"),)

    org_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of the method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    owner: Mapped[uuid.UUID]
    locked_until: Mapped[datetime | None]
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _created()


AMBASSADOR_STATUSES = ("active", "paused", "left")


class Ambassador(Base):
    __tablename__ = "ambassadors"
    __table_args__ = (
        UniqueConstraint("org_id", "external_id"),
        CheckConstraint(_in("status", AMBASSADOR_STATUSES), name="status"),
        # The list's pages are in id order within an organisation.
        Index(None, "org_id", "id"),
        # "Who is in group X" (the list's filter, a campaign's audience): groups @> / &&.
        Index(None, "groups", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = _id()
    org_id: Mapped[uuid.UUID] = _org()
    external_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    # active; paused (no new shares, planned ones cancelled); left (also credentials erased).
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    # Local times; no sharing from start to end (across midnight when start > end); equal
    # means no quiet hours.
    quiet_start: Mapped[time] = mapped_column(Time, server_default=text("'22:00'"))
    quiet_end: Mapped[time] = mapped_column(Time, server_default=text("'07:00'"))
    # Names of the CMS's groups or teams; a text[] rather than a table: see migration 0006.
    groups: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # Bumped to revoke every page link issued so far (chorus.gateway.page.links).
    page_token_version: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        # One remote account belongs to one colleague: two rows for it would post every
        # campaign twice on the same timeline.
        UniqueConstraint("org_id", "network", "remote_key"),
        CheckConstraint(_in("network", NETWORK_NAMES), name="network"),
        CheckConstraint(_in("mode", ("auto", "review")), name="mode"),
        CheckConstraint(_in("status", ("connected", "needs_reauth", "revoked")), name="status"),
        Index(None, "org_id", "network", postgresql_where=text("status = 'connected'")),
    )

    id: Mapped[uuid.UUID] = _id()
    org_id: Mapped[uuid.UUID] = _org()
    ambassador_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ambassadors.id", ondelete="CASCADE"), index=True
    )
    network: Mapped[str] = mapped_column(String(16))
    handle: Mapped[str] = mapped_column(String(320))
    base_url: Mapped[str] = mapped_column(String(500))
    # Which remote account this is, whoever connects it: the server's host and the handle,
    # lower-cased (see chorus.common.credentials.store.remote_key).
    remote_key: Mapped[str] = mapped_column(String(900))
    remote_account_id: Mapped[str | None] = mapped_column(String(200))
    # Fernet ciphertext of the account's Credentials; only chorus.common.credentials opens it.
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    mode: Mapped[str] = mapped_column(String(16), server_default="auto")
    # connected; needs_reauth (the network refused its authorisation: the colleague must
    # connect it again, `status_reason` says why); revoked (disconnected, credentials erased).
    status: Mapped[str] = mapped_column(String(16), server_default="connected")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # "page" or "profile" where a network has both (Facebook); empty elsewhere.
    kind: Mapped[str] = mapped_column(String(16), server_default="")
    # When the authorisation runs out with no way to refresh it (LinkedIn's 60 days): the
    # colleague is asked to connect again before then.
    authorized_until: Mapped[datetime | None]
    # When the colleague's consent runs out where the network limits it (LinkedIn: a year
    # after it was granted); renewed by a new grant. NULL: it does not expire.
    consent_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class RateHold(Base):
    """A network said "wait" for an account or for Chorus's whole app: every publisher
    replica holds that account's (or every account's) shares until `until`."""

    __tablename__ = "rate_holds"

    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    # "account:<uuid>" or "app" (posting, and reads where they share its budget), or a read
    # budget of its own: "read:account:<uuid>", "read:server:<host>", "read:app".
    scope_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    until: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


class ReadPace(Base):
    """The metrics collector's reads in the current window of one read budget (network and
    scope key, as in `rate_holds`): every replica counts here before it reads."""

    __tablename__ = "read_paces"

    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime]
    used: Mapped[int]


class OAuthFlow(Base):
    """A connection under way: the `state` sent to the network, and the PKCE verifier."""

    __tablename__ = "oauth_flows"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[uuid.UUID] = _org()
    ambassador_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ambassadors.id", ondelete="CASCADE")
    )
    network: Mapped[str] = mapped_column(String(16))
    # The Mastodon instance being connected (its own OAuth app); empty elsewhere.
    instance: Mapped[str] = mapped_column(String(500), server_default="")
    sealed_verifier: Mapped[bytes] = mapped_column(LargeBinary)
    return_to: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = _created()
    used_at: Mapped[datetime | None]


class OAuthApp(Base):
    """Chorus's app on one Mastodon instance, registered the first time a colleague of any
    organisation connects an account there."""

    __tablename__ = "oauth_apps"

    network: Mapped[str] = mapped_column(String(16), primary_key=True)
    instance: Mapped[str] = mapped_column(String(500), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(500))
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _created()


class ConsentEvent(Base):
    """The consent ledger: every grant, change and withdrawal, never updated or deleted."""

    __tablename__ = "consent_events"
    __table_args__ = (
        CheckConstraint(_in("action", ("granted", "changed", "withdrawn")), name="action"),
        Index(None, "org_id", "ambassador_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[uuid.UUID] = _org()
    ambassador_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ambassadors.id", ondelete="CASCADE")
    )
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL")
    )
    network: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str | None] = mapped_column(String(16))
    # Who made the change: "cms" (the organisation's API key), "colleague", "system".
    actor: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = _created()


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key"),
        CheckConstraint(_in("status", tuple(CampaignStatus)), name="status"),
        # The CMS's list, newest first, paged by (created_at, id): read backwards, no sort.
        Index(None, "org_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = _id()
    org_id: Mapped[uuid.UUID] = _org()
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(2000))
    message: Mapped[str] = mapped_column(Text)
    networks: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    # The link card's description where a network's card is built by us (Bluesky, LinkedIn).
    description: Mapped[str] = mapped_column(Text, server_default="")
    # [{"url": ..., "alt": ...}]: images the CMS hosts, uploaded to each network.
    images: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # {"x": {"message": ...}}: a network's own text, posted there instead of `message`.
    variants: Mapped[dict[str, dict[str, str]]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    status: Mapped[str] = mapped_column(String(16), server_default="accepted")
    starts_at: Mapped[datetime] = _created()
    # The window's end; NULL: "now" (spread over the planner's horizon, or posted at once).
    ends_at: Mapped[datetime | None]
    # NULL: every active colleague; {"groups": [...]} or {"colleagues": [external ids]}.
    audience: Mapped[dict[str, list[str]] | None] = mapped_column(JSONB)
    # The request's Idempotency-Key, kept with the campaign after the gateway's own record of
    # the answer expires (24 h): even a late retry never makes a second campaign.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # Fingerprint of the request that created it: the same key with another body is an error.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # The trace of its staging (chorus.common.tracing): each share's release continues it.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    shares_planned: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # {"source", "medium", "campaign", "content"} templates for the tracked links' UTM
    # parameters (chorus.common.links); NULL: the defaults.
    utm: Mapped[dict[str, Any] | None]


class Share(Base):
    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("campaign_id", "account_id"),
        CheckConstraint(_in("status", tuple(ShareStatus)), name="status"),
        # Each index is written by every staged share (a COPY of a million rows): each one
        # for readers that need it (migration 0018). The releaser's scan (planned, in time
        # order) and the sweeps of unapproved and unconsented shares; like keys appended
        # plainly, not deduplicated (migration 0017).
        Index(
            "ix_shares_status_planned_at",
            "status",
            "planned_at",
            postgresql_with={"deduplicate_items": "off"},
        ),
        # What an organisation already has counted in a window: the spreading's daily caps
        # and app budgets. By UTC day, not by instant: a staging's shares then go to the end
        # of a few keys' runs (one per day of its window), not all over the index.
        Index(
            "ix_shares_org_id_day",
            "org_id",
            text("((planned_at AT TIME ZONE 'UTC')::date)"),
            postgresql_with={"deduplicate_items": "off"},
        ),
        # The sweeper's scans: attempts whose lease ran out, releases that never came back.
        Index(
            "ix_shares_publishing_lease",
            "lease_until",
            postgresql_where=text("status = 'publishing'"),
        ),
        Index("ix_shares_queued", "released_at", postgresql_where=text("status = 'queued'")),
        # A campaign's shares all planned when staged: like keys again.
        Index(None, "campaign_id", "status", postgresql_with={"deduplicate_items": "off"}),
        # A colleague's shares, and an account's for its deletion (migration 0016's trigger).
        Index(None, "account_id"),
        # The reach reports, by organisation and day; nothing is staged published.
        Index(
            "ix_shares_published",
            "org_id",
            "published_at",
            postgresql_where=text("status = 'published'"),
        ),
    )

    id: Mapped[uuid.UUID] = _id()
    # No foreign keys: their per-row checks were most of a staging COPY's cost. Deleting a
    # campaign or an account (or their organisation) deletes its shares by trigger (0016).
    org_id: Mapped[uuid.UUID]
    campaign_id: Mapped[uuid.UUID]
    account_id: Mapped[uuid.UUID]
    network: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="planned")
    planned_at: Mapped[datetime] = _created()
    released_at: Mapped[datetime | None]
    # Per-network state for exactly-once: the key sent as Idempotency-Key (Mastodon) or the
    # record key (Bluesky), fixed when the share is staged so every attempt reuses it.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str | None] = mapped_column(String(300))
    remote_url: Mapped[str | None] = mapped_column(String(2000))
    # Network attempts spent (a rate-limit wait spends none).
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # Times the share waited on a network's rate limit, and times the sweeper took it back
    # after its attempt or its message was lost: both bounded, so nothing loops for ever.
    rate_waits: Mapped[int] = mapped_column(Integer, server_default="0")
    replans: Mapped[int] = mapped_column(Integer, server_default="0")
    # Set by the first claim: from then on a post may exist on the network. Once the network's
    # idempotency window has passed since, a retry looks the post up before sending again.
    first_attempt_at: Mapped[datetime | None]
    # The current claim: who holds it (outcomes are written only by that holder) and until when.
    claim_token: Mapped[uuid.UUID | None]
    lease_until: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    # The colleague's own text for this post, posted instead of the campaign's message.
    text_override: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = _created()


class ShareLink(Base):
    """A share's short link code, written when the publisher first renders the share (the code
    is derived from the share's id: see chorus.common.links)."""

    __tablename__ = "share_links"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    share_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shares.id", ondelete="CASCADE"), unique=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()


class ShareClicks(Base):
    """Clicks on a share's link, per UTC day, by people (bots filtered out). Who clicked is
    never stored: no address, no cookie, no user agent."""

    __tablename__ = "share_clicks"
    __table_args__ = (Index(None, "org_id", "day"),)

    share_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shares.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    clicks: Mapped[int] = mapped_column(BigInteger, server_default="0")


class OutboxEvent(Base):
    """A message to publish, written in the transaction of the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "id", postgresql_where=text("sent_at IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    routing_key: Mapped[str] = mapped_column(String(200))
    message_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _created()
    sent_at: Mapped[datetime | None]
    # The W3C trace context of the work that wrote it (chorus.common.tracing); NULL: untraced.
    traceparent: Mapped[str | None] = mapped_column(String(55))


class MetricSample(Base):
    """Counts read back for one share at one time. NULL means "not reported by the network"."""

    __tablename__ = "metric_samples"
    # One sample per share and time: a redelivered event or a retried read adds nothing.
    __table_args__ = (UniqueConstraint("share_id", "taken_at"), Index(None, "taken_at"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[uuid.UUID] = _org()
    share_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shares.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(index=True)
    network: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime] = _created()
    reshares: Mapped[int | None]
    likes: Mapped[int | None]
    replies: Mapped[int | None]
    impressions: Mapped[int | None]
    followers: Mapped[int | None]


class LatestMetrics(Base):
    """The newest sample of each share, kept where reports and gauges read it, so neither
    scans the whole history."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index(None, "org_id", "network"),)

    share_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("shares.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(index=True)
    network: Mapped[str] = mapped_column(String(16))
    taken_at: Mapped[datetime]
    reshares: Mapped[int | None]
    likes: Mapped[int | None]
    replies: Mapped[int | None]
    impressions: Mapped[int | None]
    followers: Mapped[int | None]


class MetricReadback(Base):
    """A read-back still to do for a published share (1 h, 6 h, 24 h ... after publishing)."""

    __tablename__ = "metric_readbacks"
    __table_args__ = (
        UniqueConstraint("share_id", "due_at"),
        Index("ix_metric_readbacks_due", "due_at", postgresql_where=text("done_at IS NULL")),
        Index("ix_metric_readbacks_done", "done_at", postgresql_where=text("done_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    org_id: Mapped[uuid.UUID] = _org()
    share_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("shares.id", ondelete="CASCADE"))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")


class WebhookEndpoint(Base):
    """Where an organisation's CMS takes webhooks, and which events it wants there."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = _id()
    org_id: Mapped[uuid.UUID] = _org()
    url: Mapped[str] = mapped_column(String(2000))
    # The signing secret, sealed with the credentials key ring (it is shown once, at creation).
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    # False once deleted by the CMS (the row stays for its delivery log).
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # Set when the endpoint answered 410 Gone: nothing more is sent until the CMS enables it.
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """One event for one endpoint, and every attempt to deliver it (`attempt_log`)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # A redelivered bus event finds its delivery already there: one webhook, not two.
        UniqueConstraint("endpoint_id", "event_id"),
        CheckConstraint(_in("status", ("pending", "delivered", "failed")), name="status"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # The delivery log, newest first.
        Index(None, "endpoint_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = _id()
    org_id: Mapped[uuid.UUID] = _org()
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # When the next attempt is due; while one is under way, when its lease ends (a scheduler
    # that died mid-attempt leaves it due again then).
    next_attempt_at: Mapped[datetime] = _created()
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # [{"at", "status_code", "error", "ms"}] per attempt: bounded by the attempts allowed.
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None]
