"""Following a tracked link: where a share's code sends a click, and counting the click.

Only the share, the day and a count are written: no address, no cookie, no user agent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.links import slug, tracked_url

__all__ = ["Target", "follow"]

# One statement, one round trip: where the link goes and, for a person (not a bot), one
# more click. The click's row is one per share and day, bumped in place: concurrent clicks on
# one share wait only for each other's single-row update, and the table grows with shares x
# days, not with clicks. A click lost to a crash in the last few milliseconds is worth less
# than making every click on a busy share wait for the WAL to reach the disk while it holds
# the row, hence `synchronous_commit` off for this transaction (read at its commit).
_FOLLOW = text(
    """
    WITH target AS (
        SELECT s.id AS share_id, s.org_id, s.network, c.url, c.title, c.utm,
               m.external_id, m.id AS ambassador_id
        FROM share_links l
        JOIN shares s ON s.id = l.share_id
        JOIN campaigns c ON c.id = s.campaign_id
        JOIN accounts a ON a.id = s.account_id
        JOIN ambassadors m ON m.id = a.ambassador_id
        WHERE l.code = :code
    ), click AS (
        INSERT INTO share_clicks (share_id, day, org_id, clicks)
        SELECT t.share_id, (now() AT TIME ZONE 'UTC')::date, t.org_id, 1
        FROM target t
        CROSS JOIN LATERAL (SELECT set_config('synchronous_commit', 'off', true)) AS lazy
        WHERE CAST(:count AS boolean)
        ON CONFLICT (share_id, day) DO UPDATE SET clicks = share_clicks.clicks + 1
    )
    SELECT * FROM target
    """
)


@dataclass(frozen=True, slots=True)
class Target:
    share_id: uuid.UUID
    org_id: uuid.UUID
    url: str


def _target(row: Any) -> Target:
    utm: dict[str, Any] = dict(row.utm or {})
    # "opaque": the analytics tool sees Chorus's id of the colleague, not the CMS's own.
    colleague = str(row.ambassador_id) if utm.pop("colleague", None) == "opaque" else None
    url = tracked_url(
        row.url,
        {k: str(v) for k, v in utm.items()},
        network=row.network,
        campaign=slug(row.title),
        colleague=colleague or row.external_id,
    )
    return Target(share_id=row.share_id, org_id=row.org_id, url=url)


async def follow(*, session: AsyncSession, code: str, count: bool) -> Target | None:
    """Where the link goes (a cancelled campaign's too: the post is out there), or None;
    counts one click if `count`."""
    row = (await session.execute(_FOLLOW, {"code": code, "count": count})).one_or_none()
    return None if row is None else _target(row)
