"""Staging a campaign: one share per connected account of its audience, each at the time the
spreading planner gives it, streamed from PostgreSQL and written back with COPY.

    staged = await stage_campaign(session=session, campaign_id=..., org_id=..., rules=rules)

One transaction: a crash mid-way leaves nothing staged, and the redelivered `CampaignCreated`
stages it all; once committed the campaign is `scheduled`, so a redelivery stages nothing.
Staging holds a per-organisation advisory lock, so two campaigns of one organisation are
staged one after the other and the second counts the first's shares in each account's daily
cap and each network's app budget.

The audience is read through a server-side cursor ordered by account id, `rules.batch` rows at
a time, on a second connection that shares the staging transaction's snapshot, and the shares
go out in one COPY fed as they are planned. So three things overlap: PostgreSQL reads the next
batch (one backend), this process plans and encodes the current one, and PostgreSQL writes the
one before (the other backend). Memory is two batches plus the planner's grids.
"""

from __future__ import annotations

import asyncio
import gc
import os
import uuid
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import repeat
from time import time_ns
from types import MappingProxyType
from typing import Any, Literal

from asyncpg.pgproto.pgproto import UUID as PgUUID
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.db import driver_transaction
from chorus.common.kinds import CampaignStatus, Network, ShareStatus
from chorus.common.shares.completion import settle_campaigns
from chorus.common.shares.spreading import (
    DEFAULT_DAILY_CAP,
    EPOCH,
    NOTHING_PLANNED,
    NOW_HORIZON,
    AppBudget,
    NetworkRules,
    Planned,
    Planner,
    QuietHours,
    ShareRequest,
    Window,
)

__all__ = ["X_APP_DAILY_BUDGET", "StagingRules", "stage_campaign"]

# X's per-app cap on POST /2/tweets (networks.md), shared by every colleague on the app.
X_APP_DAILY_BUDGET = 10_000
_DAY = timedelta(days=1)
# Shares that count against a daily cap or an app budget: planned, or gone out.
_COUNTED = [
    ShareStatus.PLANNED.value,
    ShareStatus.AWAITING_REVIEW.value,
    ShareStatus.QUEUED.value,
    ShareStatus.PUBLISHING.value,
    ShareStatus.PUBLISHED.value,
]


@dataclass(frozen=True, slots=True)
class StagingRules:
    """How shares are spaced: per account (`daily_cap`), per campaign and network (`min_gap`)
    and per app (`app_daily_budgets`, shares a UTC day on that network)."""

    daily_cap: int = DEFAULT_DAILY_CAP
    min_gap: timedelta = timedelta(seconds=30)
    app_daily_budgets: Mapping[Network, int] = field(
        default_factory=lambda: MappingProxyType({Network.X: X_APP_DAILY_BUDGET})
    )
    horizon: timedelta = NOW_HORIZON
    batch: int = 10_000
    # "copy" (COPY, ids made here) or "unnest" (INSERT ... SELECT FROM unnest, ids made by
    # PostgreSQL): `make bench-staging` measures both; COPY is the default, being faster.
    insert: Literal["copy", "unnest"] = "copy"


_LOCK_ORG = text("SELECT pg_advisory_xact_lock(hashtextextended('stage:' || :org_id, 0))")
_CAMPAIGN = text(
    """
    SELECT c.networks, c.starts_at, c.ends_at, c.audience, o.spread_now, now() AS now
    FROM campaigns c JOIN organisations o ON o.id = c.org_id
    WHERE c.id = :campaign_id AND c.org_id = :org_id AND c.status = 'accepted'
    FOR UPDATE OF c
    """
)
_BUDGET_USED = text(
    """
    SELECT date_bin(interval '24 hours', planned_at, :origin) AS period, count(*) AS n
    FROM shares
    WHERE org_id = :org_id AND network = :network AND status = ANY(:counted)
      AND planned_at >= CAST(:start AS timestamptz) - interval '24 hours' AND planned_at < :end
      -- The same window in UTC days: what `ix_shares_org_id_day` is searched by.
      AND (planned_at AT TIME ZONE 'UTC')::date
          BETWEEN ((CAST(:start AS timestamptz) - interval '24 hours') AT TIME ZONE 'UTC')::date
              AND (CAST(:end AS timestamptz) AT TIME ZONE 'UTC')::date
    GROUP BY 1
    """
)
# Each account's shares already planned per local day of its colleague, joined set-based
# (one aggregate, hashed), not looked up account by account.
_AUDIENCE = """
    WITH busy AS (
        SELECT account_id, array_agg(day) AS days, array_agg(n) AS counts
        FROM (
            SELECT s.account_id, (s.planned_at AT TIME ZONE am.timezone)::date AS day,
                   count(*)::int AS n
            FROM shares s
            JOIN accounts a ON a.id = s.account_id
            JOIN ambassadors am ON am.id = a.ambassador_id
            WHERE s.org_id = $1 AND s.status = ANY($5::text[])
              AND s.planned_at >= $6 AND s.planned_at < $7
              -- The same window in UTC days: what `ix_shares_org_id_day` is searched by.
              AND (s.planned_at AT TIME ZONE 'UTC')::date
                  BETWEEN ($6::timestamptz AT TIME ZONE 'UTC')::date
                      AND ($7::timestamptz AT TIME ZONE 'UTC')::date
            GROUP BY 1, 2
        ) per_day
        GROUP BY account_id
    )
    SELECT a.id, a.network, a.mode, am.timezone, am.quiet_start, am.quiet_end,
           b.days, b.counts
    FROM accounts a
    JOIN ambassadors am ON am.id = a.ambassador_id
    LEFT JOIN busy b ON b.account_id = a.id
    WHERE a.org_id = $1 AND a.network = ANY($2::text[]) AND a.status = 'connected'
      AND am.status = 'active'
      AND ($3::text[] IS NULL OR am.groups && $3::text[])
      AND ($4::text[] IS NULL OR am.external_id = ANY($4::text[]))
    ORDER BY a.id
"""
_COLUMNS = (
    "id",
    "org_id",
    "campaign_id",
    "account_id",
    "network",
    "status",
    "planned_at",
    "idempotency_key",
    "reason",
)
_INSERT_UNNEST = """
    INSERT INTO shares (id, org_id, campaign_id, account_id, network, status, planned_at,
                        idempotency_key, reason)
    SELECT u.id, $1::uuid, $2::uuid, u.account_id, u.network, u.status, u.planned_at,
           'chorus-' || u.id::text, u.reason
    FROM (
        -- A volatile function in a subquery's list is computed per row, once.
        SELECT gen_random_uuid() AS id, *
        FROM unnest($3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
             AS t(account_id, network, status, planned_at, reason)
    ) u
"""
_SCHEDULED = text(
    "UPDATE campaigns SET status = :scheduled, shares_planned = :staged WHERE id = :campaign_id"
)


async def stage_campaign(
    *,
    session: AsyncSession,
    campaign_id: uuid.UUID,
    org_id: uuid.UUID,
    rules: StagingRules | None = None,
) -> int | None:
    """Stage the campaign's shares; returns how many, or None if it was already staged (a
    redelivered event) or is unknown. A campaign with no open share completes at once.

    Call it in a transaction of its own: the audience is read on a second connection from the
    session's pool (so the pool needs one free for it), in the snapshot this transaction has
    when the read starts, which does not include what the transaction itself wrote."""
    rules = rules or StagingRules()
    await session.execute(_LOCK_ORG, {"org_id": str(org_id)})
    params = {"campaign_id": campaign_id, "org_id": org_id}
    campaign = (await session.execute(_CAMPAIGN, params)).one_or_none()
    if campaign is None:
        return None
    start: datetime = max(campaign.starts_at, campaign.now)
    ends_at: datetime | None = campaign.ends_at
    networks = [Network(n) for n in campaign.networks]
    planner: Planner | None = None
    too_late = ends_at is not None and ends_at <= start
    if not too_late and (ends_at is not None or campaign.spread_now):
        end = start + rules.horizon if ends_at is None else ends_at
        planner = Planner(
            window=Window(start, end),
            seed=campaign_id.int,
            daily_cap=rules.daily_cap,
            rules={
                n: await _network_rules(session, rules, org_id, n, start, end) for n in networks
            },
        )
    connection = await session.connection()
    raw: Any = (await connection.get_raw_connection()).driver_connection
    audience: dict[str, list[str]] = campaign.audience or {}
    writer = _Writer(start, planner, too_late)
    # The reader gets this transaction's snapshot as of now, after the lock (so with every
    # share an earlier staging of the organisation committed), on a connection of its own, so
    # the audience is read while this one is busy writing.
    snapshot = await raw.fetchval("SELECT pg_export_snapshot()")
    # A reader left mid-query or mid-transaction (cancelled, its backend gone) is closed,
    # never handed to the next caller (`driver_transaction`).
    async with driver_transaction(
        connection.engine, isolation="repeatable_read", readonly=True
    ) as reader:
        await reader.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        cursor = await reader.cursor(
            _AUDIENCE,
            org_id,
            [n.value for n in networks],
            audience.get("groups"),
            audience.get("colleagues"),
            _COUNTED,
            start - _DAY,
            (planner.end if planner is not None else start) + _DAY,
        )
        staged = await _write(raw, cursor, writer, rules, org_id, campaign_id)
    await session.execute(
        _SCHEDULED,
        {"scheduled": CampaignStatus.SCHEDULED.value, "staged": staged, "campaign_id": campaign_id},
    )
    await settle_campaigns(session, [campaign_id])
    return staged


async def _write(
    raw: Any,
    cursor: Any,
    writer: _Writer,
    rules: StagingRules,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
) -> int:
    """Writes the audience's shares; how many."""
    # asyncpg writes its own UUID type without a call into Python per row.
    org, campaign = PgUUID(org_id.bytes), PgUUID(campaign_id.bytes)
    with _collector_paused():
        if rules.insert == "unnest":
            return await _insert_batches(raw, cursor, writer, rules, org, campaign)
        return await _copy_stream(raw, cursor, writer, rules, org, campaign)


async def _copy_stream(
    raw: Any,
    cursor: Any,
    writer: _Writer,
    rules: StagingRules,
    org: uuid.UUID,
    campaign: uuid.UUID,
) -> int:
    """One COPY for the whole audience, fed as it is planned. Planning is pure Python and
    needs this process's interpreter lock, as the COPY's encoding does: in a thread the two
    took turns and the COPY ran half again as long (`make bench-staging`), so it is done here,
    a chunk at a time, between the COPY's writes, while PostgreSQL works through what it has
    been sent. A row the server refuses (a unique violation) fails the COPY only once all of
    it has been sent: asyncpg reads the server's answer at the end (a staging's rows break no
    rule unless it is run twice, which the campaign's status prevents)."""
    records = _planned_records(cursor, writer, rules, org, campaign)
    try:
        status: str = await raw.copy_records_to_table("shares", records=records, columns=_COLUMNS)
    finally:
        # Never left reading behind a failed COPY: the reader's transaction ends next.
        await records.aclose()
    return int(status.split()[-1])


# Rows planned at a time between two of the COPY's writes (its buffer: about 3,000 shares):
# a few milliseconds, far less than PostgreSQL takes to write what it has already been sent.
_PLAN_CHUNK = 1_000


async def _planned_records(
    cursor: Any,
    writer: _Writer,
    rules: StagingRules,
    org: uuid.UUID,
    campaign: uuid.UUID,
) -> AsyncGenerator[tuple[Any, ...], None]:
    """The shares' rows in the cursor's order. The next batch is fetched on the reader's
    backend while this one is planned and written."""
    fetching = asyncio.ensure_future(cursor.fetch(rules.batch))
    try:
        while rows := await fetching:
            fetching = asyncio.ensure_future(cursor.fetch(rules.batch))
            for lo in range(0, len(rows), _PLAN_CHUNK):
                # The event loop's turn, once a chunk: neither this generator's rows nor the
                # COPY's writes give it one, and the next fetch is sent, the broker's
                # heartbeats answered and the other loops run only then.
                await asyncio.sleep(0)
                for record in _records(org, campaign, *writer.columns(rows[lo : lo + _PLAN_CHUNK])):
                    yield record
    finally:
        # Waited for, not awaited: neither its own failure nor its cancellation may replace
        # the error that ends the COPY, or swallow a cancellation of the staging itself.
        fetching.cancel()
        await asyncio.wait({fetching})
        if not fetching.cancelled():
            fetching.exception()  # retrieved, so never reported as lost


async def _insert_batches(
    raw: Any,
    cursor: Any,
    writer: _Writer,
    rules: StagingRules,
    org: uuid.UUID,
    campaign: uuid.UUID,
) -> int:
    """INSERT over arrays, a batch at a time (the bench's comparison with COPY)."""
    staged = 0
    while rows := await cursor.fetch(rules.batch):
        await raw.execute(_INSERT_UNNEST, org, campaign, *writer.columns(rows))
        staged += len(rows)
    return staged


_pausing = 0


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while staging: each batch's rows, ids and tuples (tens of
    thousands of objects, freed by their counts, none in a cycle) set it off again and again,
    a quarter of the staging process's time. Counted, so stagings that overlap in one process
    turn it back on only when the last ends, and only if it was on."""
    global _pausing
    if _pausing == 0 and not gc.isenabled():
        yield
        return
    _pausing += 1
    gc.disable()
    try:
        yield
    finally:
        _pausing -= 1
        if _pausing == 0:
            gc.enable()


async def _network_rules(
    session: AsyncSession,
    rules: StagingRules,
    org_id: uuid.UUID,
    network: Network,
    start: datetime,
    end: datetime,
) -> NetworkRules:
    limit = rules.app_daily_budgets.get(network)
    if limit is None:
        return NetworkRules(min_gap=rules.min_gap)
    rows = await session.execute(
        _BUDGET_USED,
        {
            "origin": EPOCH,
            "org_id": org_id,
            "network": network.value,
            "counted": _COUNTED,
            "start": start,
            "end": end,
        },
    )
    used = {r.period: r.n for r in rows}
    return NetworkRules(min_gap=rules.min_gap, budget=AppBudget(limit, _DAY, EPOCH, used))


def _records(
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    accounts: list[uuid.UUID],
    networks: list[str],
    statuses: list[str],
    times: list[datetime],
    reasons: list[str | None],
) -> Iterator[tuple[Any, ...]]:
    ids = _new_ids(len(accounts))
    keys = ["chorus-" + str(share_id) for share_id in ids]
    return zip(
        ids,
        repeat(org_id),
        repeat(campaign_id),
        accounts,
        networks,
        statuses,
        times,
        keys,
        reasons,
    )


# Time-ordered UUIDs (version 7: Unix milliseconds, then random bits), made n at a time. In
# time order, a batch's ids land together at the right edge of the primary key's index, not
# all over it (random ids cost PostgreSQL, the slower side of a COPY, a fifth more); one read
# of the system's random source and asyncpg's own UUID type (C) cost a seventh of
# `uuid.uuid4()` per id, and PostgreSQL's gen_random_uuid() would cost its backend as much.
_VERSION_7 = bytes((b & 0x0F) | 0x70 for b in range(256))
_VARIANT_RFC_9562 = bytes((b & 0x3F) | 0x80 for b in range(256))


def _new_ids(n: int) -> list[uuid.UUID]:
    raw = bytearray(os.urandom(16 * n))
    for i, byte in enumerate((time_ns() // 1_000_000).to_bytes(6, "big")):
        raw[i::16] = bytes((byte,)) * n
    raw[6::16] = raw[6::16].translate(_VERSION_7)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC_9562)
    data = bytes(raw)
    return [PgUUID(data[i : i + 16]) for i in range(0, len(data), 16)]


_Columns = tuple[list[uuid.UUID], list[str], list[str], list[datetime], list[str | None]]


class _Writer:
    """Plans a batch of audience rows: its shares as columns (account, network, status,
    planned_at, reason)."""

    def __init__(self, start: datetime, planner: Planner | None, too_late: bool) -> None:
        self.start = start
        self.planner = planner
        self.too_late = too_late
        self.networks = {n.value: n for n in Network}
        self.quiet: dict[tuple[time, time], QuietHours] = {}

    def columns(self, rows: list[Any]) -> _Columns:
        accounts = [r[0] for r in rows]
        networks = [r[1] for r in rows]
        statuses = ["awaiting_review" if r[2] == "review" else "planned" for r in rows]
        times = [self.start] * len(rows)
        reasons: list[str | None] = [None] * len(rows)
        if self.too_late:
            statuses = ["skipped"] * len(rows)
            reasons = ["the campaign's window ended before it was staged"] * len(rows)
            return accounts, networks, statuses, times, reasons
        planner = self.planner
        if planner is None:
            return accounts, networks, statuses, times, reasons
        place, lanes, quiet_hours = planner.place, self.networks, self.quiet
        for i, (account_id, network, _, zone, quiet_start, quiet_end, days, counts) in enumerate(
            rows
        ):
            quiet = quiet_hours.get((quiet_start, quiet_end))
            if quiet is None:
                quiet = quiet_hours[(quiet_start, quiet_end)] = QuietHours(quiet_start, quiet_end)
            planned: Mapping[date, int] = (
                dict(zip(days, counts, strict=True)) if days else NOTHING_PLANNED
            )
            result = place(ShareRequest(account_id, lanes[network], zone, quiet, planned))
            if isinstance(result, Planned):
                times[i] = result.at
            else:
                statuses[i], reasons[i] = "skipped", result.reason
        return accounts, networks, statuses, times, reasons
