"""Migrations as a one-shot step: `python -m chorus.common.migrate` (never at service start).

python -m chorus.common.migrate            # upgrade to head
python -m chorus.common.migrate check      # fail if the models drifted from the migrations
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from chorus.common.settings import DatabaseSettings

__all__ = ["alembic_config", "upgrade"]


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(*, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def main(argv: list[str]) -> int:
    settings = DatabaseSettings()
    config = alembic_config(settings.database_url)
    if argv[:1] == ["check"]:
        command.check(config)
    elif argv[:1] == ["revision"]:
        command.revision(config, message=argv[1], autogenerate=True)
    else:
        command.upgrade(config, "head")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
