"""The share's lifecycle, owned here and nowhere else: every change of a share's status is one
of these functions, each in the caller's transaction, each writing the events it implies
(`SharesPublished`, `ShareFailed`, `CampaignCompleted`) to the outbox.

    planned -> queued -> publishing -> published | failed | cancelled | manual
       ^          |          |
       +----------+----------+   delayed (retry, rate limit) or taken back (lost) -> planned
    failed -> planned: a retry the CMS asks for (retry_failed)

    stage_campaign      scheduler: a campaign's shares, spread, streamed and COPYed
    due_shares, mark_released           scheduler: release when due
    claim_many, still_wanted            publisher: intent before the call, a check just before it
    record_outcomes                     publisher: published / failed / delayed / cancelled /
                                        manual (the colleague shares it by hand)
    replan_stale                        scheduler: lost attempts and messages, bounded
    cancel_open_shares                  consent withdrawn, colleague left
    cancel_campaign, retry_failed       gateway: the CMS cancels a campaign, retries its failures
    approve_share, edit_share, skip_share   the colleague's page: their say over each share
    skip_unapproved, skip_expired_consent   scheduler: no approval or no consent, no post

`spreading` (pure: no database) decides when each share goes out; `staging` calls it.
"""

from chorus.common.kinds import (
    OPEN_SHARE_STATUSES,
    TERMINAL_SHARE_STATUSES,
    CampaignStatus,
    ShareStatus,
)
from chorus.common.shares.campaigns import (
    Cancellation,
    Retry,
    cancel_campaign,
    retry_failed,
)
from chorus.common.shares.claims import Claim, ClaimedShare, claim_many, still_wanted
from chorus.common.shares.completion import settle_campaigns
from chorus.common.shares.outcomes import (
    Cancelled,
    Delayed,
    Failed,
    Manual,
    Outcome,
    Published,
    record_outcomes,
)
from chorus.common.shares.planning import (
    NEXT_DUE,
    DueShare,
    cancel_open_shares,
    due_shares,
    mark_released,
    replan_stale,
)
from chorus.common.shares.review import (
    CONSENT_EXPIRED,
    NOT_APPROVED_IN_TIME,
    SKIPPED_BY_COLLEAGUE,
    Reviewed,
    approve_share,
    edit_share,
    follow_mode,
    skip_expired_consent,
    skip_share,
    skip_unapproved,
)
from chorus.common.shares.staging import StagingRules, stage_campaign

__all__ = [
    "CONSENT_EXPIRED",
    "NEXT_DUE",
    "NOT_APPROVED_IN_TIME",
    "OPEN_SHARE_STATUSES",
    "SKIPPED_BY_COLLEAGUE",
    "TERMINAL_SHARE_STATUSES",
    "CampaignStatus",
    "Cancellation",
    "Cancelled",
    "Claim",
    "ClaimedShare",
    "Delayed",
    "DueShare",
    "Failed",
    "Manual",
    "Outcome",
    "Published",
    "Retry",
    "Reviewed",
    "ShareStatus",
    "StagingRules",
    "approve_share",
    "cancel_campaign",
    "cancel_open_shares",
    "claim_many",
    "due_shares",
    "edit_share",
    "follow_mode",
    "mark_released",
    "record_outcomes",
    "replan_stale",
    "retry_failed",
    "settle_campaigns",
    "skip_expired_consent",
    "skip_share",
    "skip_unapproved",
    "stage_campaign",
    "still_wanted",
]
