"""The peer's own tables (schema `celery_peer` in Chorus's database), its accounts seeded at
the simulator, its campaigns, and the progress the bench reads: the bench's side, not a task's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import Engine, text

__all__ = ["Progress", "create_campaign", "create_schema", "progress", "seed_accounts"]

_DDL = [
    "CREATE SCHEMA celery_peer",
    """
    CREATE TABLE celery_peer.accounts (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL,
        handle text NOT NULL,
        base_url text NOT NULL,
        access_token text NOT NULL
    )
    """,
    "CREATE INDEX ON celery_peer.accounts (org_id)",
    """
    CREATE TABLE celery_peer.campaigns (
        id uuid PRIMARY KEY,
        org_id uuid NOT NULL,
        text text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE celery_peer.shares (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        campaign_id uuid NOT NULL REFERENCES celery_peer.campaigns,
        account_id uuid NOT NULL REFERENCES celery_peer.accounts,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'posting', 'posted', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        remote_id text,
        error text,
        finished_at timestamptz,
        UNIQUE (campaign_id, account_id)
    )
    """,
]


def create_schema(engine: Engine) -> None:
    with engine.begin() as db:
        for statement in _DDL:
            db.execute(text(statement))


def seed_accounts(engine: Engine, *, sim_url: str, org_id: uuid.UUID, count: int) -> None:
    """`count` Mastodon accounts at the simulator, stored as a team would: token and all."""
    with httpx.Client(timeout=300) as http:
        made = http.post(
            f"{sim_url}/_sim/accounts",
            json={"network": "mastodon", "username": "peer", "count": count, "followers": 100},
        )
        made.raise_for_status()
    rows = [
        {
            "id": uuid.uuid4(),
            "org_id": org_id,
            "handle": account["username"],
            "base_url": account["base_url"],
            "access_token": account["token"],
        }
        for account in made.json()
    ]
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO celery_peer.accounts (id, org_id, handle, base_url, access_token) "
                "VALUES (:id, :org_id, :handle, :base_url, :access_token)"
            ),
            rows,
        )


def create_campaign(engine: Engine, *, org_id: uuid.UUID, message: str) -> uuid.UUID:
    campaign_id = uuid.uuid4()
    with engine.begin() as db:
        db.execute(
            text("INSERT INTO celery_peer.campaigns (id, org_id, text) VALUES (:id, :org, :text)"),
            {"id": campaign_id, "org": org_id, "text": message},
        )
    return campaign_id


@dataclass(frozen=True)
class Progress:
    posted: int
    failed: int
    last_finished_at: datetime | None


def progress(engine: Engine, campaign_id: uuid.UUID) -> Progress:
    with engine.begin() as db:
        row = db.execute(
            text(
                "SELECT count(*) FILTER (WHERE status = 'posted') AS posted, "
                "count(*) FILTER (WHERE status = 'failed') AS failed, "
                "max(finished_at) AS last FROM celery_peer.shares WHERE campaign_id = :id"
            ),
            {"id": campaign_id},
        ).one()
    return Progress(posted=row.posted, failed=row.failed, last_finished_at=row.last)
