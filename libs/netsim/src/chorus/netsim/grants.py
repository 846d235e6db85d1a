"""OAuth records: registered apps, authorization codes, refresh tokens."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AuthCode", "OAuthApp", "RefreshGrant"]


@dataclass
class OAuthApp:
    client_id: str
    client_secret: str
    network: str
    name: str
    redirect_uris: list[str]
    scopes: str = ""
    # LinkedIn hands refresh tokens only to approved partner apps.
    partner: bool = False


@dataclass
class AuthCode:
    code: str
    network: str
    client_id: str
    redirect_uri: str
    account_id: str
    scope: str
    challenge: str | None
    method: str | None
    expires_at: float


@dataclass
class RefreshGrant:
    token: str
    network: str
    account_id: str
    client_id: str
    scope: str
    expires_at: float | None
