"""Colleagues as the CMS keeps them in sync: a bulk upsert by its external ids (one statement,
the same list twice changes nothing), what a status change means for their shares and
credentials, and the reads (one colleague with accounts and consent, pages of them).

    result = await upsert_colleagues(session=session, org_id=org_id, items=body.ambassadors)
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.credentials import erase_credentials
from chorus.common.kinds import Network
from chorus.common.models import Account, Ambassador, ConsentEvent
from chorus.common.shares import cancel_open_shares
from chorus.gateway.ambassadors import account_out
from chorus.gateway.problems import Problem
from chorus.gateway.schemas import (
    AmbassadorDetail,
    AmbassadorItem,
    AmbassadorOut,
    AmbassadorPage,
    AmbassadorStatus,
    AmbassadorsUpserted,
    ConsentOut,
    QuietHours,
    UpsertedAmbassador,
    UpsertResult,
)

__all__ = [
    "ambassador_out",
    "decode_cursor",
    "find_colleague",
    "get_colleague",
    "list_colleagues",
    "upsert_colleagues",
]

# Existing rows are locked first, in external-id order (as the insert takes them), so the
# status each had before is the one this request changes, and two overlapping requests wait
# for each other instead of deadlocking.
_PRIOR = text(
    """
    SELECT id, external_id, status FROM ambassadors
    WHERE org_id = :org_id AND external_id = ANY(:external_ids)
    ORDER BY external_id
    FOR UPDATE
    """
)

# One statement for the whole list. A row is only written when something differs, so a
# repeated list leaves `updated_at` (and the table) alone; `xmax = 0` tells an insert from
# an update. An unchanged row is not returned (its WHERE was false).
_UPSERT = text(
    """
    INSERT INTO ambassadors AS a
        (org_id, external_id, display_name, timezone, quiet_start, quiet_end, groups, status)
    SELECT :org_id, i.external_id, i.display_name, i.timezone, i.quiet_start, i.quiet_end,
           i.groups, i.status
    FROM jsonb_to_recordset(CAST(:items AS jsonb)) AS i(
        external_id text, display_name text, timezone text, quiet_start time, quiet_end time,
        groups text[], status text)
    ORDER BY i.external_id
    ON CONFLICT (org_id, external_id) DO UPDATE SET
        display_name = EXCLUDED.display_name, timezone = EXCLUDED.timezone,
        quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
        groups = EXCLUDED.groups, status = EXCLUDED.status, updated_at = now()
    WHERE (a.display_name, a.timezone, a.quiet_start, a.quiet_end, a.groups, a.status)
          IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.timezone, EXCLUDED.quiet_start,
                            EXCLUDED.quiet_end, EXCLUDED.groups, EXCLUDED.status)
    RETURNING a.id, a.external_id, (a.xmax = 0) AS created
    """
)

_REASONS = {
    AmbassadorStatus.PAUSED: "the colleague was paused by the CMS",
    AmbassadorStatus.LEFT: "the colleague left the organisation",
}


def _repeats(items: Sequence[AmbassadorItem]) -> None:
    seen: dict[str, int] = {}
    errors = []
    for index, item in enumerate(items):
        if item.external_id in seen:
            errors.append(
                {
                    "location": ["body", "ambassadors", index, "external_id"],
                    "message": f"external_id {item.external_id!r} is already item "
                    f"{seen[item.external_id]}",
                }
            )
        seen.setdefault(item.external_id, index)
    if errors:
        raise Problem(422, "Each colleague may appear once in a request.", errors=errors)


def _row(item: AmbassadorItem) -> dict[str, object]:
    return {
        "external_id": item.external_id,
        "display_name": item.display_name,
        "timezone": item.timezone,
        "quiet_start": item.quiet_hours.start,
        "quiet_end": item.quiet_hours.end,
        "groups": item.groups,
        "status": item.status.value,
    }


async def upsert_colleagues(
    *, session: AsyncSession, org_id: uuid.UUID, items: Sequence[AmbassadorItem]
) -> AmbassadorsUpserted:
    """Create or update each colleague by the CMS's id; a colleague now paused or gone has
    their open shares cancelled (and, gone, their credentials erased) in this transaction."""
    _repeats(items)
    external_ids = [item.external_id for item in items]
    prior = {
        r.external_id: (r.id, r.status)
        for r in await session.execute(_PRIOR, {"org_id": org_id, "external_ids": external_ids})
    }
    written = {
        r.external_id: (r.id, r.created)
        for r in await session.execute(
            _UPSERT, {"org_id": org_id, "items": json.dumps([_row(i) for i in items])}
        )
    }
    # An unchanged row created by a request racing this one was not in `prior`'s snapshot;
    # this later statement sees it (READ COMMITTED).
    missing = [e for e in external_ids if e not in prior and e not in written]
    if missing:
        for r in await session.execute(_PRIOR, {"org_id": org_id, "external_ids": missing}):
            prior[r.external_id] = (r.id, r.status)
    results = []
    for external_id in external_ids:
        if external_id in written:
            row_id, created = written[external_id]
            result = UpsertResult.CREATED if created else UpsertResult.UPDATED
        else:
            row_id, result = prior[external_id][0], UpsertResult.UNCHANGED
        results.append(UpsertedAmbassador(external_id=external_id, id=row_id, result=result))
    for status in (AmbassadorStatus.PAUSED, AmbassadorStatus.LEFT):
        changed = [
            prior[i.external_id][0]
            for i in items
            if i.status == status and i.external_id in prior and prior[i.external_id][1] != status
        ]
        if changed:
            await _stop(session=session, org_id=org_id, ambassador_ids=changed, status=status)
    counts = {r: sum(1 for x in results if x.result == r) for r in UpsertResult}
    return AmbassadorsUpserted(
        created=counts[UpsertResult.CREATED],
        updated=counts[UpsertResult.UPDATED],
        unchanged=counts[UpsertResult.UNCHANGED],
        ambassadors=results,
    )


async def _stop(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    ambassador_ids: Sequence[uuid.UUID],
    status: AmbassadorStatus,
) -> None:
    """Paused: the shares not yet posted are cancelled (by the shares' owner). Left: every
    account still holding credentials is erased by the credentials' owner, which records the
    withdrawal in the consent ledger and cancels that account's shares."""
    accounts = (
        await session.execute(
            select(Account.id, Account.status).where(
                Account.org_id == org_id, Account.ambassador_id.in_(ambassador_ids)
            )
        )
    ).all()
    reason = _REASONS[status]
    if status == AmbassadorStatus.LEFT:
        for account in accounts:
            if account.status != "revoked":
                await erase_credentials(
                    session=session,
                    org_id=org_id,
                    account_id=account.id,
                    actor="cms",
                    reason=reason,
                )
    if accounts:
        await cancel_open_shares(
            session=session, org_id=org_id, account_ids=[a.id for a in accounts], reason=reason
        )


def ambassador_out(row: Ambassador) -> AmbassadorOut:
    return AmbassadorOut(
        id=row.id,
        external_id=row.external_id,
        display_name=row.display_name,
        timezone=row.timezone,
        quiet_hours=QuietHours(
            start=row.quiet_start.strftime("%H:%M"), end=row.quiet_end.strftime("%H:%M")
        ),
        groups=row.groups,
        status=AmbassadorStatus(row.status),
        updated_at=row.updated_at,
    )


async def find_colleague(
    *, session: AsyncSession, org_id: uuid.UUID, external_id: str
) -> Ambassador:
    """The colleague the CMS knows as `external_id` in this organisation, or 404."""
    row = await session.scalar(
        select(Ambassador).where(Ambassador.org_id == org_id, Ambassador.external_id == external_id)
    )
    if row is None:
        raise Problem(404, f"No ambassador with external id {external_id!r}.")
    return row


async def get_colleague(
    *, session: AsyncSession, org_id: uuid.UUID, external_id: str
) -> AmbassadorDetail:
    """One colleague with their accounts and, per network, the latest consent."""
    row = await find_colleague(session=session, org_id=org_id, external_id=external_id)
    accounts = await session.scalars(
        select(Account)
        .where(Account.org_id == org_id, Account.ambassador_id == row.id)
        .order_by(Account.network, Account.handle)
    )
    latest = await session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.org_id == org_id, ConsentEvent.ambassador_id == row.id)
        .order_by(ConsentEvent.network, ConsentEvent.at.desc(), ConsentEvent.id.desc())
        .ext(distinct_on(ConsentEvent.network))
    )
    consent = []
    for event in latest:
        state: Literal["granted", "withdrawn"] = (
            "withdrawn" if event.action == "withdrawn" else "granted"
        )
        mode: Literal["auto", "review"] | None = None
        if state == "granted":
            mode = "review" if event.mode == "review" else "auto"
        consent.append(
            ConsentOut(
                network=Network(event.network),
                state=state,
                mode=mode,
                actor=event.actor,
                at=event.at,
            )
        )
    return AmbassadorDetail(
        **ambassador_out(row).model_dump(),
        accounts=[account_out(a, external_id) for a in accounts],
        consent=consent,
    )


def _encode_cursor(last: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    """The id a page ends at; 422 for anything a page did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise Problem(
            422,
            "The cursor is not one a page of this list handed out.",
            errors=[{"location": ["query", "cursor"], "message": "not a cursor"}],
        ) from exc


async def list_colleagues(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    limit: int,
    cursor: str | None,
    status: AmbassadorStatus | None,
    group: str | None,
) -> AmbassadorPage:
    """A page of colleagues in id order (stable while rows are added or changed)."""
    query = select(Ambassador).where(Ambassador.org_id == org_id)
    if cursor is not None:
        query = query.where(Ambassador.id > decode_cursor(cursor))
    if status is not None:
        query = query.where(Ambassador.status == status.value)
    if group is not None:
        query = query.where(Ambassador.groups.contains([group]))
    rows = list(await session.scalars(query.order_by(Ambassador.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AmbassadorPage(
        items=[ambassador_out(r) for r in rows],
        next_cursor=_encode_cursor(rows[-1].id) if more else None,
    )
