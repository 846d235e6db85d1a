"""The readers of `shares` that migration 0018 moved, and those that share their indexes, each
find an index that narrows their scan. A staging writes each of its million rows into every
index of the table, so the table keeps only the indexes its readers need; this says each reader
still has one: with sequential scans priced out, each scan of `shares` in its plan must be an
index scan with a condition on the index's leading column (or a partial index), not a walk over
the whole table or a whole index. The staging's reads must also be narrowed to the
organisation, or they grow with every other organisation's shares."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.shares.campaigns import _CANCEL_SHARES
from chorus.common.shares.planning import _CANCEL_FOR_ACCOUNTS, _DUE, NEXT_DUE
from chorus.common.shares.review import _EXPIRED, _UNAPPROVED
from chorus.common.shares.spreading import EPOCH
from chorus.common.shares.staging import _AUDIENCE, _BUDGET_USED, _COUNTED
from chorus.gateway.page.views import pending_query
from chorus.gateway.reach_queries import _BY_DAY, _LEADERBOARDS, Ranking

pytestmark = pytest.mark.integration

_ORG, _ID = uuid.uuid4(), uuid.uuid4()
_NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
_READERS: dict[str, tuple[TextClause, dict[str, Any]]] = {
    "releaser: planned shares due": (_DUE, {"limit": 100}),
    "releaser: the next due time": (NEXT_DUE, {}),
    "staging: an app's budget already used": (
        _BUDGET_USED,
        {
            "origin": EPOCH,
            "org_id": _ORG,
            "network": Network.X.value,
            "counted": _COUNTED,
            "start": _NOW,
            "end": _NOW + timedelta(days=2),
        },
    ),
    "sweep: unapproved shares past their time": (_UNAPPROVED, {"limit": 100, "reason": "r"}),
    "sweep: shares whose consent expired": (_EXPIRED, {"limit": 100, "reason": "r"}),
    "a colleague left: their accounts' open shares": (
        _CANCEL_FOR_ACCOUNTS,
        {"account_ids": [_ID], "org_id": _ORG, "reason": "r"},
    ),
    "a campaign cancelled: its open shares": (
        _CANCEL_SHARES,
        {"c": _ID, "org": _ORG, "reason": "r"},
    ),
    "reach by day": (_BY_DAY, {"org": _ORG, "start": _NOW, "end": _NOW + timedelta(days=1)}),
    "the leaderboard": (
        _LEADERBOARDS[Ranking.CLICKS],
        {
            "org": _ORG,
            "start": _NOW,
            "end": _NOW + timedelta(days=1),
            "after_score": None,
            "after_id": None,
            "limit": 10,
        },
    ),
}


@dataclass(frozen=True)
class _Index:
    leading: str
    partial: bool


def _leading_columns(node: dict[str, Any], indexes: dict[str, _Index]) -> set[str]:
    """The leading columns of the `shares` indexes a plan scans."""
    index = indexes.get(node.get("Index Name", ""))
    found = {index.leading} if index is not None else set()
    for child in node.get("Plans", []):
        found |= _leading_columns(child, indexes)
    return found


def _unnarrowed_share_scans(node: dict[str, Any], indexes: dict[str, _Index]) -> list[str]:
    """The scans of `shares` in a plan that read all of it: sequential, or a whole index
    walked (no condition on its leading column, and not a partial index, whose predicate
    narrows it already)."""
    found = []
    index = indexes.get(node.get("Index Name", ""))
    if node.get("Relation Name") == "shares" and node["Node Type"] == "Seq Scan":
        found.append("Seq Scan")
    elif (
        index is not None
        and not index.partial
        and not re.search(rf"\b{index.leading}\b", node.get("Index Cond", ""))
    ):
        found.append(f"{node['Node Type']} {node['Index Name']}")
    for child in node.get("Plans", []):
        found += _unnarrowed_share_scans(child, indexes)
    return found


async def _plan(connection: AsyncConnection, sql: str, *args: Any) -> dict[str, Any]:
    raw: Any = (await connection.get_raw_connection()).driver_connection
    return _root(await raw.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))


async def _text_plan(
    connection: AsyncConnection, query: TextClause, params: dict[str, Any]
) -> dict[str, Any]:
    rows = await connection.execute(text(f"EXPLAIN (FORMAT JSON) {query.text}"), params)
    return _root(rows.scalar_one())


def _root(document: str | list[dict[str, Any]]) -> dict[str, Any]:
    """The plan's top node (the services' connections decode JSON already)."""
    plan: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0][
        "Plan"
    ]
    return plan


@pytest.fixture
async def no_seq_scans(db: Database) -> Any:
    async with db.engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        yield connection
        await connection.rollback()


@pytest.fixture
async def indexes(no_seq_scans: AsyncConnection) -> dict[str, _Index]:
    """`shares`' indexes by name: the column each leads with, and whether it is partial."""
    rows = await no_seq_scans.execute(
        text(
            """
            SELECT c.relname, a.attname, i.indpred IS NOT NULL AS partial
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = 'shares'::regclass
            """
        )
    )
    return {r.relname: _Index(r.attname, r.partial) for r in rows}


@pytest.mark.parametrize("reader", sorted(_READERS))
async def test_each_reader_of_shares_has_an_index(
    no_seq_scans: AsyncConnection, indexes: dict[str, _Index], reader: str
) -> None:
    query, params = _READERS[reader]
    plan = await _text_plan(no_seq_scans, query, params)
    assert _unnarrowed_share_scans(plan, indexes) == [], json.dumps(plan, indent=1)
    if reader.startswith("staging"):
        assert "org_id" in _leading_columns(plan, indexes), json.dumps(plan, indent=1)


async def test_staging_reads_what_the_audience_already_has_planned_by_index(
    no_seq_scans: AsyncConnection, indexes: dict[str, _Index]
) -> None:
    plan = await _plan(
        no_seq_scans,
        _AUDIENCE,
        _ORG,
        [Network.MASTODON.value],
        None,
        None,
        _COUNTED,
        _NOW,
        _NOW + timedelta(days=2),
    )
    assert _unnarrowed_share_scans(plan, indexes) == [], json.dumps(plan, indent=1)
    assert "org_id" in _leading_columns(plan, indexes), json.dumps(plan, indent=1)


async def test_the_colleague_page_reads_shares_by_account(
    no_seq_scans: AsyncConnection, indexes: dict[str, _Index]
) -> None:
    query = pending_query(org_id=_ORG, ambassador_id=_ID)
    compiled = query.compile(no_seq_scans, compile_kwargs={"literal_binds": True})
    plan = await _plan(no_seq_scans, str(compiled))
    assert _unnarrowed_share_scans(plan, indexes) == [], json.dumps(plan, indent=1)


def test_a_whole_table_scan_is_what_the_check_finds() -> None:
    """The check itself: a walk of the table, or of an index not by its leading column, is
    reported, nested or not; a partial index needs no condition."""
    indexes = {
        "pk_shares": _Index("id", partial=False),
        "ix_shares_campaign_id_status": _Index("campaign_id", partial=False),
        "ix_shares_account_id": _Index("account_id", partial=False),
        "ix_shares_queued": _Index("released_at", partial=True),
    }
    walked = {
        "Node Type": "Hash Join",
        "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "shares"},
            {"Node Type": "Index Scan", "Relation Name": "shares", "Index Name": "pk_shares"},
            {
                "Node Type": "Bitmap Index Scan",
                "Index Name": "ix_shares_campaign_id_status",
                "Index Cond": "((status)::text = 'failed'::text)",
            },
            {
                "Node Type": "Index Scan",
                "Relation Name": "shares",
                "Index Name": "ix_shares_account_id",
                "Index Cond": "(account_id = a.id)",
            },
            {
                "Node Type": "Index Scan",
                "Relation Name": "shares",
                "Index Name": "ix_shares_queued",
            },
        ],
    }
    assert _unnarrowed_share_scans(walked, indexes) == [
        "Seq Scan",
        "Index Scan pk_shares",
        "Bitmap Index Scan ix_shares_campaign_id_status",
    ]
