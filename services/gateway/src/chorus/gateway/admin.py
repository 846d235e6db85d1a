"""Operator commands: `python -m chorus.gateway.admin create-organisation "Acme"`
(`--no-spread-now`: its campaigns without a window post at once instead of over 24 hours).

Prints the new organisation's first API key once; only its hash is stored. More keys, their
rotation and revocation are the organisation's own, through /v1/api-keys.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import insert

from chorus.common.db import open_database
from chorus.common.models import Organisation
from chorus.common.settings import DatabaseSettings
from chorus.gateway.api_keys import issue_key

__all__ = ["create_organisation"]


async def create_organisation(
    *, settings: DatabaseSettings, name: str, spread_now: bool = True
) -> tuple[uuid.UUID, str]:
    db = open_database(settings, application_name="chorus-admin")
    try:
        async with db.sessions.begin() as session:
            org_id = await session.scalar(
                insert(Organisation)
                .values(name=name, spread_now=spread_now)
                .returning(Organisation.id)
            )
            assert org_id is not None
            key = await issue_key(
                session=session, org_id=org_id, name="First key", now=datetime.now(UTC)
            )
    finally:
        await db.close()
    assert key.key is not None
    return org_id, key.key


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chorus.gateway.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-organisation", help="create an organisation and key")
    create.add_argument("name")
    create.add_argument(
        "--no-spread-now",
        dest="spread_now",
        action="store_false",
        help="post a campaign without a window at once, instead of spreading it over 24 hours",
    )
    args = parser.parse_args()
    org_id, key = asyncio.run(
        create_organisation(settings=DatabaseSettings(), name=args.name, spread_now=args.spread_now)
    )
    print(f"organisation {org_id}\napi key {key}")


if __name__ == "__main__":
    main()
