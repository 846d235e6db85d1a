"""A service given bad configuration refuses to start with one clear line, not a stack trace."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from chorus.common.credentials import new_key

CASES = [
    ("publisher", {"NETWORK": "myspace"}, "NETWORK: Input should be"),
    ("publisher", {"NETWORK": "x", "CHORUS_NETWORK_APPS": "{not json"}, '"network_apps"'),
    (
        "publisher",
        {"NETWORK": "x", "CHORUS_NETWORK_APPS": '{"x": {"client_id": "a", "secret": "b"}}'},
        "network_apps.x.secret: Extra inputs are not permitted",
    ),
    ("gateway", {"CHORUS_PUBLIC_URL": "ftp://chorus"}, "public_url"),
    ("publisher", {"NETWORK": "mastodon", "CHORUS_CREDENTIALS_KEY": "short"}, "Fernet keys"),
    (
        "publisher",
        {"NETWORK": "mastodon", "CHORUS_CLAIM_LEASE_SECONDS": "20"},
        "claim_lease_seconds must exceed attempt_deadline_seconds",
    ),
    (
        "publisher",
        {"NETWORK": "mastodon", "CHORUS_NETWORK_DEADLINE_SECONDS": "60"},
        "network_deadline_seconds must not exceed attempt_deadline_seconds",
    ),
    ("gateway", {"CHORUS_CREDENTIALS_KEY": f"{new_key()},short"}, "Fernet keys"),
    ("gateway", {"CHORUS_ALLOW_PRIVATE_NETWORKS": "maybe"}, "allow_private_networks"),
    ("gateway", {"CHORUS_CREDENTIALS_KEY": ""}, "CHORUS_CREDENTIALS_KEY is not set"),
    ("gateway", {"CHORUS_PORT": "not-a-port"}, "port"),
    (
        "gateway",
        {"CHORUS_IDEMPOTENCY_RETENTION_HOURS": "1"},
        "idempotency_retention_hours",
    ),
    ("gateway", {"CHORUS_REPLICAS": "0"}, "replicas"),
    ("metrics", {"CHORUS_READBACK_BATCH": "0"}, "readback_batch"),
    ("scheduler", {"CHORUS_RELEASE_BATCH": "-1"}, "release_batch"),
    ("scheduler", {"CHORUS_SHARES_PER_MESSAGE": "501"}, "shares_per_message"),
    (
        "publisher",
        {"NETWORK": "mastodon", "CHORUS_PUBLISHED_PER_MESSAGE": "0"},
        "published_per_message",
    ),
    ("metrics", {"CHORUS_SCHEDULE_BATCH": "501"}, "schedule_batch"),
    (
        "scheduler",
        {"CHORUS_DATABASE_POOL_SIZE": "4", "CHORUS_STAGINGS_AT_ONCE": "2"},
        "must hold two connections per",
    ),
    ("scheduler", {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "otel_endpoint"),
]


@pytest.mark.parametrize(("service", "env", "says"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_bad_configuration_is_refused_clearly(service: str, env: dict[str, str], says: str) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_") and k != "NETWORK"}
    result = subprocess.run(
        [sys.executable, "-m", f"chorus.{service}"],
        env={**base, "CHORUS_CREDENTIALS_KEY": new_key(), **env},
        capture_output=True,
        text=True,
        # A bound, not a timing: a loaded machine took over 60 s to import a service.
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "chorus: configuration error:" in result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_the_default_connection_budget_fits_postgresql_defaults() -> None:
    """The README's budget: each process holds at most pool + overflow connections, plus one
    LISTEN connection where it relays an outbox or releases shares. `make run`'s four
    processes and an operator's command must fit in PostgreSQL's default 100 connections,
    less the 3 it reserves for superusers."""
    from chorus.common.settings import DatabaseSettings

    defaults = DatabaseSettings(database_url="postgresql+asyncpg://u:p@h/db")
    per_process = defaults.database_pool_size + defaults.database_max_overflow
    listeners = {"gateway": 1, "scheduler": 1, "publisher": 1, "metrics": 0}
    total = sum(per_process + n for n in listeners.values()) + per_process  # + one command
    assert total <= 100 - 3, total
