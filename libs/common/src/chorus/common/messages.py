"""The bus contract: one frozen model per message, with the routing key it travels under.

Commands are `<Noun><Verb>Requested`, events are in the past tense. Consumers validate every
body against these models; a body that does not fit is dead-lettered, never retried.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag, field_validator

from chorus.common.kinds import Network
from chorus.common.text import SafeLine, SafeText

__all__ = [
    "MAX_EVENTS_PER_MESSAGE",
    "MAX_SHARES_PER_MESSAGE",
    "AccountNeedsReauth",
    "CampaignCancelled",
    "CampaignCompleted",
    "CampaignCreated",
    "ConsentWithdrawn",
    "Message",
    "Observation",
    "PublishedShares",
    "ShareFailed",
    "SharePublished",
    "ShareRequested",
    "SharesPublished",
    "SharesRequested",
    "SharesRequests",
    "must_route",
    "share_requested_key",
]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Routing keys: a fixed one per event, or a per-network one that routing_key() composes.
    ROUTING_KEY: ClassVar[str]
    # Whether a queue must take it: sending fails (and the sender keeps it to retry) when no
    # queue is bound. False only for announcements that may have no listener yet.
    MUST_ROUTE: ClassVar[bool] = True

    def routing_key(self) -> str:
        return self.ROUTING_KEY


class CampaignCreated(Message):
    ROUTING_KEY = "campaign.created"

    campaign_id: uuid.UUID
    org_id: uuid.UUID


def _event_id() -> uuid.UUID:
    return uuid.uuid4()


# Fixed when the event is written to the outbox, so every redelivery of it carries the same
# id: what a webhook is deduplicated by (and what the CMS sees as `Chorus-Webhook-Id`).
EventId = Field(default_factory=_event_id, description="This event's id, the same on redelivery.")


def share_requested_key(network: Network) -> str:
    return f"share.requested.{network.value}"


class ShareRequested(Message):
    """Post this share now. Sent when a share is due; may arrive more than once.

    The message of releases before `SharesRequested`: still accepted, and still sent by a
    scheduler told to put one share in each message (publishers of an older release on the
    queue during a rolling upgrade read nothing else)."""

    ROUTING_KEY = "share.requested.*"

    share_id: uuid.UUID
    org_id: uuid.UUID
    network: Network

    def routing_key(self) -> str:
        return share_requested_key(self.network)

    def as_batch(self) -> SharesRequested:
        return SharesRequested(share_ids=[self.share_id], org_id=self.org_id, network=self.network)


# The most shares one message may carry, whatever the scheduler is told: a publisher refuses
# (dead-letters) a longer list rather than holding that many shares for one ack.
MAX_SHARES_PER_MESSAGE = 500


class SharesRequested(Message):
    """Post these due shares of one organisation on one network now; may arrive more than once.

    One message for many shares saves broker round trips; each share is still claimed, attempted
    and recorded on its own, so a redelivery posts none of them twice."""

    ROUTING_KEY = "share.requested.*"

    share_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_SHARES_PER_MESSAGE)
    org_id: uuid.UUID
    network: Network

    @field_validator("share_ids")
    @classmethod
    def _each_once(cls, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        _named_once(ids)
        return ids

    def routing_key(self) -> str:
        return share_requested_key(self.network)


def _named_once(share_ids: Iterable[uuid.UUID]) -> None:
    seen: set[uuid.UUID] = set()
    for share_id in share_ids:
        if share_id in seen:
            raise ValueError(f"share {share_id} is named more than once")
        seen.add(share_id)


def _request_kind(body: Any) -> str:
    if isinstance(body, SharesRequested) or (isinstance(body, dict) and "share_ids" in body):
        return "many"
    return "one"  # and what is neither is refused as not being one


class SharesRequests(
    RootModel[
        Annotated[
            Annotated[SharesRequested, Tag("many")] | Annotated[ShareRequested, Tag("one")],
            Discriminator(_request_kind),
        ]
    ]
):
    """Any message of a publisher queue: many shares, or one (the older form). A body is read
    as the kind its fields name, so a bad one is refused with that kind's own errors."""

    def batch(self) -> SharesRequested:
        root = self.root
        return root if isinstance(root, SharesRequested) else root.as_batch()


class Observation(BaseModel):
    """Counts the network reported with its answer to the post: a first metrics sample for
    free. None in a field means the network did not report it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reshares: int | None = Field(default=None, ge=0)
    likes: int | None = Field(default=None, ge=0)
    replies: int | None = Field(default=None, ge=0)
    impressions: int | None = Field(default=None, ge=0)
    followers: int | None = Field(default=None, ge=0)


class SharePublished(Message):
    ROUTING_KEY = "share.published"

    share_id: uuid.UUID
    org_id: uuid.UUID
    campaign_id: uuid.UUID
    account_id: uuid.UUID
    network: Network
    remote_id: SafeLine = Field(min_length=1, max_length=300)
    published_at: datetime
    observed: Observation | None = None


# The most published shares one event message may carry: a publisher's batch of outcomes is
# written in messages of at most this many, and a longer list is refused (dead-lettered).
MAX_EVENTS_PER_MESSAGE = 500


class SharesPublished(Message):
    """Shares one transaction recorded as published, in one message: the relay, the broker and
    the metrics service then pay per batch of outcomes, not per share. Each event is whole and
    is stored on its own terms, so a redelivered message writes nothing twice."""

    ROUTING_KEY = "share.published"

    events: list[SharePublished] = Field(min_length=1, max_length=MAX_EVENTS_PER_MESSAGE)

    @field_validator("events")
    @classmethod
    def _each_once(cls, events: list[SharePublished]) -> list[SharePublished]:
        _named_once(e.share_id for e in events)
        return events


def _published_kind(body: Any) -> str:
    if isinstance(body, SharesPublished) or (isinstance(body, dict) and "events" in body):
        return "many"
    return "one"  # and what is neither is refused as not being one


class PublishedShares(
    RootModel[
        Annotated[
            Annotated[SharesPublished, Tag("many")] | Annotated[SharePublished, Tag("one")],
            Discriminator(_published_kind),
        ]
    ]
):
    """Any message of the metrics queue: many published shares, or one (the form of releases
    before `SharesPublished`, and what a publisher told to send one event per message sends)."""

    def events(self) -> list[SharePublished]:
        root = self.root
        return list(root.events) if isinstance(root, SharesPublished) else [root]


class ShareFailed(Message):
    ROUTING_KEY = "share.failed"

    share_id: uuid.UUID
    org_id: uuid.UUID
    campaign_id: uuid.UUID
    network: Network
    reason: SafeText = Field(max_length=1000)
    event_id: uuid.UUID = EventId


class CampaignCompleted(Message):
    """Every share of the campaign has an outcome: what the CMS waits for.

    A retry of its failed shares (`POST /v1/campaigns/{id}/retry`) schedules a completed
    campaign again, and it completes again later: the same campaign, a later `completed_at`.
    Consumers keep the latest `completed_at` per campaign and treat (campaign_id,
    completed_at) as the event's identity."""

    ROUTING_KEY = "campaign.completed"

    campaign_id: uuid.UUID
    org_id: uuid.UUID
    completed_at: datetime
    event_id: uuid.UUID = EventId


class CampaignCancelled(Message):
    """The CMS cancelled the campaign: `shares_cancelled` will not be posted. Published shares
    stay; one whose network call was already under way ends published or cancelled."""

    ROUTING_KEY = "campaign.cancelled"

    campaign_id: uuid.UUID
    org_id: uuid.UUID
    cancelled_at: datetime
    shares_cancelled: int = Field(ge=0)
    event_id: uuid.UUID = EventId


class AccountNeedsReauth(Message):
    """The network refused an account's authorisation: the colleague must connect it again."""

    ROUTING_KEY = "account.needs_reauth"

    account_id: uuid.UUID
    org_id: uuid.UUID
    ambassador_id: uuid.UUID
    network: Network
    reason: SafeText = Field(max_length=500)
    at: datetime
    event_id: uuid.UUID = EventId


class ConsentWithdrawn(Message):
    """A colleague's consent for one account was withdrawn: its credentials are erased."""

    ROUTING_KEY = "consent.withdrawn"

    account_id: uuid.UUID
    org_id: uuid.UUID
    ambassador_id: uuid.UUID
    network: Network
    actor: SafeLine = Field(max_length=32)
    withdrawn_at: datetime
    event_id: uuid.UUID = EventId


@functools.cache  # the relay asks once per event; the answer never changes
def must_route(message_type: str) -> bool:
    """MUST_ROUTE of a message type stored by name (the outbox); unknown names must route."""
    for kind in Message.__subclasses__():
        if kind.__name__ == message_type:
            return kind.MUST_ROUTE
    return True
