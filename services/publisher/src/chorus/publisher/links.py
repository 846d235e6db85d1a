"""The tracked link a share's post carries: `{base}/l/{code}` instead of the campaign's URL.

The code is stored in the claim's transaction, before any network call, so the link works
from the moment the post exists. It is derived from the share's id (chorus.common.links), and
the stored one wins: every attempt of a share, on any replica, renders the same link, which is
also what a retry's look-up of an earlier post matches on.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.links import link_code
from chorus.common.shares import ClaimedShare

__all__ = ["TrackedLinks"]

log = logging.getLogger(__name__)

# No conflict target: a share that has its code keeps it, and a code another share already
# holds (a 1-in-2^71 collision) is not taken; that share then goes out untracked. One round
# trip: the codes just stored come back from the insert, and those stored before from the
# table (the statement's snapshot predates its own insert, so none is read twice).
_STORE_AND_READ = text(
    """
    WITH stored AS (
        INSERT INTO share_links (code, share_id, org_id)
        SELECT * FROM unnest(CAST(:codes AS text[]), CAST(:new AS uuid[]), CAST(:orgs AS uuid[]))
        ON CONFLICT DO NOTHING
        RETURNING share_id, code
    )
    SELECT share_id, code FROM stored
    UNION ALL
    SELECT share_id, code FROM share_links WHERE share_id = ANY(:ids)
    """
)
_READ = text("SELECT share_id, code FROM share_links WHERE share_id = ANY(:ids)")


class TrackedLinks:
    def __init__(self, *, base_url: str, key: bytes) -> None:
        self._base = base_url.rstrip("/")
        self._key = key

    def link(self, code: str) -> str:
        return f"{self._base}/l/{code}"

    async def apply(
        self, *, session: Executor, shares: Sequence[ClaimedShare | None]
    ) -> list[ClaimedShare | None]:
        """The shares with their tracked link in place of the campaign's URL."""
        claimed = [s for s in shares if s is not None]
        if not claimed:
            return list(shares)
        ids = [s.claim.share_id for s in claimed]
        # A code is given at a share's first attempt only. One attempted before without a code
        # (links were off then) keeps the campaign's URL: its earlier post, if it exists, carries
        # that URL, and the look-up before a retry must match it, or the post goes out twice.
        first = [s for s in claimed if not s.attempted_before]
        if first:
            rows = await session.execute(
                _STORE_AND_READ,
                {
                    "codes": [link_code(self._key, s.claim.share_id) for s in first],
                    "new": [s.claim.share_id for s in first],
                    "orgs": [s.claim.org_id for s in first],
                    "ids": ids,
                },
            )
        else:
            rows = await session.execute(_READ, {"ids": ids})
        codes: dict[uuid.UUID, str] = {row.share_id: row.code for row in rows}
        return [self._tracked(s, codes) for s in shares]

    def _tracked(
        self, share: ClaimedShare | None, codes: dict[uuid.UUID, str]
    ) -> ClaimedShare | None:
        if share is None:
            return None
        code = codes.get(share.claim.share_id)
        if code is None:
            log.warning("share %s has no free link code: posted untracked", share.claim.share_id)
            return share
        return dataclasses.replace(share, url=self.link(code))
