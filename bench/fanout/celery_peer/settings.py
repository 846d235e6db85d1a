"""The peer's settings, built when a worker process first needs them (never at import)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PeerSettings"]


class PeerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CELERY_PEER_")

    # A synchronous driver's URL (postgresql+psycopg://...): the peer's tables live in the
    # `celery_peer` schema of the same database as Chorus's.
    database_url: str
    database_pool_size: int = 10
    database_max_overflow: int = 10
    http_timeout_seconds: float = 30.0
    # Kept-alive connections to the network: enough for every thread of a threads pool.
    http_max_connections: int = 64
