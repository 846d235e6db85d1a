"""Settings shared by every service; each service extends them in its own `settings.py`.

Built once in `main()` and passed down (never read at import time), so tests pass them in.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chorus.common.kinds import Network
from chorus.common.tracing import TracingSettings

__all__ = [
    "BusSettings",
    "CredentialSettings",
    "DatabaseSettings",
    "LinkSettings",
    "NetworkAccessSettings",
    "NetworkApp",
    "ServiceSettings",
    "WebhookSettings",
]


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHORUS_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql+asyncpg://chorus:chorus@127.0.0.1:55432/chorus",
        description="SQLAlchemy URL of the PostgreSQL database (asyncpg driver).",
    )
    # The connection budget: each process holds at most pool_size + max_overflow connections,
    # plus one LISTEN connection per relay or releaser. See the README's "Database connections".
    # All ten are kept: an overflow connection is closed when handed back, and the batched
    # writers of a busy publisher then reconnected (and re-prepared their statements) several
    # times a second.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=0, ge=0, le=200)


class BusSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHORUS_", extra="ignore", frozen=True)

    amqp_url: str = Field(default="amqp://guest:guest@127.0.0.1:55672/")
    exchange: str = Field(default="chorus", min_length=1)
    # After this many redeliveries a message goes to the dead-letter queue instead of looping.
    # With the growing pause between them (retry.redelivery_pause, up to 10 s), 20 rides out
    # about two and a half minutes of database outage; a malformed message never uses them.
    # A share whose message is dead-lettered is not lost: the sweeper plans it again.
    delivery_limit: int = Field(default=20, ge=1, le=100)


class CredentialSettings(DatabaseSettings):
    credentials_key: SecretStr = Field(
        default=SecretStr(""),
        description="Fernet keys (urlsafe base64, 32 bytes) that seal account credentials, "
        "comma-separated, newest first: the newest seals, every one opens.",
    )


class NetworkApp(BaseModel):
    """Chorus's app on one network: its OAuth client, and where the network's API lives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(default="", max_length=500)
    client_secret: SecretStr = Field(default=SecretStr(""))
    # Empty: the network's public API and authorisation page (the simulator's in development).
    api_url: str = Field(default="", max_length=500)
    auth_url: str = Field(default="", max_length=500)
    # The API version pinned for the network (LinkedIn-Version, the Graph API's vNN.0).
    version: str = Field(default="", max_length=20, pattern=r"^[A-Za-z0-9.]*$")
    # LinkedIn: the app is an approved partner and may refresh tokens.
    refresh_allowed: bool = False


class NetworkAccessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHORUS_", extra="ignore", frozen=True)

    allow_private_networks: bool = Field(
        default=False,
        description="Development only: let accounts live on plain http and on loopback or "
        "private addresses (the simulator). Off in production: a colleague's token is only "
        "ever sent over https to a public address.",
    )
    network_deadline_seconds: float = Field(
        default=15.0, gt=0, le=120, description="Total time one call to a network may take."
    )
    network_max_response_bytes: int = Field(
        default=1 << 20, ge=4096, le=64 << 20, description="The largest answer read from one."
    )
    network_apps: dict[Network, NetworkApp] = Field(
        default_factory=dict,
        description='Chorus\'s app on each network, as JSON: {"x": {"client_id": "...", '
        '"client_secret": "...", "api_url": "", "auth_url": "", "version": ""}}.',
    )


class ServiceSettings(CredentialSettings, BusSettings, NetworkAccessSettings, TracingSettings):
    """What every long-running service needs: the database, the bus, an ops port, and where
    traces go (if anywhere)."""

    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=0, ge=0, le=65535, description="/healthz and /metrics; 0: none")
    shutdown_grace_seconds: float = Field(default=20.0, gt=0)
    log_level: str = "INFO"


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHORUS_", extra="ignore", frozen=True)

    webhooks_allow_private: bool = Field(
        default=False,
        description="Let webhook endpoints be plain http on loopback or private addresses (a "
        "CMS on an intranet). Off by default: an API key could otherwise point Chorus at "
        "internal services and cloud metadata addresses (server-side request forgery).",
    )
    webhooks_deadline_seconds: float = Field(default=10.0, gt=0, le=60)
    webhooks_max_attempts: int = Field(default=10, ge=1, le=30)
    webhooks_batch: int = Field(default=50, ge=1, le=1000)
    webhooks_poll_seconds: float = Field(default=1.0, gt=0)
    # The delivery log the API shows: delivered and failed deliveries older than this go.
    webhooks_log_days: int = Field(default=30, ge=1, le=3650)


class LinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHORUS_", extra="ignore", frozen=True)

    links_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="The gateway's public address for tracked links: posts carry "
        "{links_base_url}/l/{code}, one link per share, instead of the campaign's URL. "
        "Unset: posts carry the campaign's URL and clicks are not counted.",
    )
    links_key: SecretStr = Field(
        default=SecretStr(""),
        description="The secret the links' codes are derived from (HMAC of the share's id), "
        "at least 32 characters; required with links_base_url. A share's code is stored when "
        "first rendered, so changing the key changes only the links of shares not yet posted.",
    )

    @model_validator(mode="after")
    def _key_with_links(self) -> Self:
        if self.links_base_url is not None and len(self.links_key.get_secret_value()) < 32:
            raise ValueError("links_key (at least 32 characters) is required with links_base_url")
        return self
