"""Names in the contract (bus, database, API): the networks Chorus knows, and the states of a
share and a campaign.

Each network has its own folder under `chorus.networks` (rules, client, OAuth), found by its
registry; `Network` is only the list of names. Only `chorus.common.shares` changes a status.
"""

from __future__ import annotations

import enum

__all__ = [
    "OPEN_SHARE_STATUSES",
    "TERMINAL_SHARE_STATUSES",
    "CampaignStatus",
    "Network",
    "ShareStatus",
]


class Network(enum.StrEnum):
    LINKEDIN = "linkedin"
    X = "x"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    FACEBOOK = "facebook"


class ShareStatus(enum.StrEnum):
    # Staged, waiting for its planned time (or, after a delay, for its next attempt).
    PLANNED = "planned"
    # Waiting for the colleague to approve it (review-first accounts).
    AWAITING_REVIEW = "awaiting_review"
    # Released to the bus.
    QUEUED = "queued"
    # Intent recorded: a network call may be under way, by the holder of the claim's lease.
    PUBLISHING = "publishing"
    # Outcomes.
    PUBLISHED = "published"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    # The network cannot be posted to on the colleague's behalf (a Facebook profile): the
    # colleague gets a share link instead.
    MANUAL = "manual"


OPEN_SHARE_STATUSES = frozenset(
    {
        ShareStatus.PLANNED,
        ShareStatus.AWAITING_REVIEW,
        ShareStatus.QUEUED,
        ShareStatus.PUBLISHING,
    }
)
TERMINAL_SHARE_STATUSES = frozenset(set(ShareStatus) - OPEN_SHARE_STATUSES)


class CampaignStatus(enum.StrEnum):
    ACCEPTED = "accepted"  # stored; its shares not staged yet
    SCHEDULED = "scheduled"  # shares staged, some without an outcome
    COMPLETED = "completed"  # every share has an outcome
    CANCELLED = "cancelled"
