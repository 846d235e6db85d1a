"""`python -m chorus.common.credentials reseal`: seal every stored credential with the newest key
of CHORUS_CREDENTIALS_KEY (comma-separated, newest first). Rotate a key by putting the new one
first everywhere, running this, then removing the old one."""

from __future__ import annotations

import argparse
import asyncio

from chorus.common.config import keyring_from, load_settings
from chorus.common.credentials.store import reseal_all
from chorus.common.db import open_database
from chorus.common.settings import CredentialSettings


async def _reseal(settings: CredentialSettings) -> tuple[int, int]:
    db = open_database(settings, application_name="chorus-reseal")
    try:
        return await reseal_all(db=db, keyring=keyring_from(settings))
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chorus.common.credentials")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reseal", help="re-seal every stored credential with the newest key")
    parser.parse_args()
    settings = load_settings(CredentialSettings)
    resealed, current = asyncio.run(_reseal(settings))
    print(f"re-sealed {resealed} credentials with the newest key; {current} already were")


if __name__ == "__main__":
    main()
