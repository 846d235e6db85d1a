"""Seeding N ambassadors with a simulator account each, in bulk with COPY: what benchmarks and
large fault tests start from (the API path is `Stack.seed_ambassadors`)."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from chorus.common.credentials import Credentials, Keyring, remote_key
from chorus.common.wakeup import asyncpg_dsn

__all__ = ["organisation_id", "seed"]


async def organisation_id(database_url: str, name: str) -> uuid.UUID:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        org_id: uuid.UUID = await connection.fetchval(
            "SELECT id FROM organisations WHERE name = $1", name
        )
    finally:
        await connection.close()
    return org_id


async def seed(
    *,
    database_url: str,
    sim_url: str,
    credentials_key: str,
    org_id: uuid.UUID,
    count: int,
    prefix: str = "bench",
    followers: int = 100,
) -> None:
    async with httpx.AsyncClient(timeout=300) as http:
        response = await http.post(
            f"{sim_url}/_sim/accounts",
            json={
                "network": "mastodon",
                "username": prefix,
                "count": count,
                "followers": followers,
            },
        )
        response.raise_for_status()
        accounts = response.json()
    keyring = Keyring.from_setting(credentials_key)
    ambassadors = [
        (uuid.uuid4(), org_id, f"{prefix}-{i:07d}", f"{prefix.title()} {i}") for i in range(count)
    ]
    rows = [
        (
            uuid.uuid4(),
            org_id,
            amb[0],
            "mastodon",
            acc["username"],
            acc["base_url"],
            remote_key(base_url=acc["base_url"], handle=acc["username"]),
            keyring.seal(Credentials(access_token=acc["token"])),
        )
        for amb, acc in zip(ambassadors, accounts, strict=True)
    ]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.copy_records_to_table(
            "ambassadors",
            records=ambassadors,
            columns=["id", "org_id", "external_id", "display_name"],
        )
        await connection.copy_records_to_table(
            "accounts",
            records=rows,
            columns=[
                "id",
                "org_id",
                "ambassador_id",
                "network",
                "handle",
                "base_url",
                "remote_key",
                "credentials",
            ],
        )
    finally:
        await connection.close()
