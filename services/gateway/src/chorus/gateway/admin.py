"""Operator commands: `python -m chorus.gateway.admin create-organisation "Acme"`.

Prints the new organisation's API key once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from sqlalchemy import insert

from chorus.common.db import open_database
from chorus.common.models import Organisation
from chorus.common.settings import DatabaseSettings
from chorus.gateway.auth import hash_api_key, new_api_key

__all__ = ["create_organisation"]


async def create_organisation(*, settings: DatabaseSettings, name: str) -> tuple[uuid.UUID, str]:
    key = new_api_key()
    db = open_database(settings, application_name="chorus-admin")
    try:
        async with db.sessions.begin() as session:
            org_id = await session.scalar(
                insert(Organisation)
                .values(name=name, api_key_hash=hash_api_key(key))
                .returning(Organisation.id)
            )
    finally:
        await db.close()
    assert org_id is not None
    return org_id, key


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chorus.gateway.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-organisation", help="create an organisation and key")
    create.add_argument("name")
    args = parser.parse_args()
    org_id, key = asyncio.run(create_organisation(settings=DatabaseSettings(), name=args.name))
    print(f"organisation {org_id}\napi key {key}")


if __name__ == "__main__":
    main()
