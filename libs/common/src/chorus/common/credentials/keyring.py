"""Sealing an account's credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key
ring, newest key first. Every key opens; only the newest seals, so a key is rotated by putting
the new one first and re-sealing (`python -m chorus.common.credentials reseal`), then removing
the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["Credentials", "InvalidCredentialsKey", "Keyring", "new_key"]


class InvalidCredentialsKey(ValueError):
    """The configured keys are missing or malformed, or cannot open stored credentials."""


def new_key() -> str:
    return Fernet.generate_key().decode()


@dataclass(frozen=True, slots=True)
class Credentials:
    """What acts as an account on its network. Never logged: `repr` hides every value."""

    access_token: str
    refresh_token: str | None = None
    # When the access token stops working, where the network says so.
    expires_at: datetime | None = None
    # Per-network extras (a Bluesky session's DID, a Facebook page id, ...).
    extra: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Credentials(access_token='***', expires_at={self.expires_at!r})"

    def to_json(self) -> bytes:
        value: dict[str, Any] = {"access_token": self.access_token}
        if self.refresh_token is not None:
            value["refresh_token"] = self.refresh_token
        if self.expires_at is not None:
            value["expires_at"] = self.expires_at.isoformat()
        if self.extra:
            value["extra"] = dict(self.extra)
        return json.dumps(value).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Credentials:
        value = json.loads(raw)
        if not isinstance(value, dict) or not isinstance(value.get("access_token"), str):
            raise InvalidCredentialsKey("stored credentials have no access token")
        expires = value.get("expires_at")
        extra = value.get("extra") or {}
        return cls(
            access_token=value["access_token"],
            refresh_token=value.get("refresh_token"),
            expires_at=datetime.fromisoformat(expires) if isinstance(expires, str) else None,
            extra={str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {},
        )


class Keyring:
    """`Keyring(["<newest key>", "<older key>"])`; raises InvalidCredentialsKey if any is bad."""

    def __init__(self, keys: Sequence[str]) -> None:
        keys = [k.strip() for k in keys if k.strip()]
        if not keys:
            raise InvalidCredentialsKey("CHORUS_CREDENTIALS_KEY is not set")
        try:
            self._fernets = [Fernet(k.encode()) for k in keys]
        except (ValueError, TypeError) as exc:
            raise InvalidCredentialsKey(
                "CHORUS_CREDENTIALS_KEY must be Fernet keys (32 bytes, urlsafe base64), "
                "comma-separated, newest first"
            ) from exc
        self._ring = MultiFernet(self._fernets)
        self._raw = [base64.urlsafe_b64decode(k) for k in keys]

    @classmethod
    def from_setting(cls, value: str) -> Keyring:
        return cls(value.split(","))

    def seal(self, credentials: Credentials) -> bytes:
        return self._ring.encrypt(credentials.to_json())

    def open(self, sealed: bytes) -> Credentials:
        try:
            raw = self._ring.decrypt(sealed)
        except InvalidToken as exc:
            raise InvalidCredentialsKey("stored credentials do not open with these keys") from exc
        try:
            return Credentials.from_json(raw)
        except ValueError as exc:
            raise InvalidCredentialsKey(f"stored credentials are malformed: {exc}") from exc

    def seal_text(self, value: str) -> bytes:
        """Another secret (a webhook's signing secret) sealed under the same ring."""
        return self._ring.encrypt(value.encode())

    def open_text(self, sealed: bytes) -> str:
        try:
            return self._ring.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise InvalidCredentialsKey("a sealed secret does not open with these keys") from exc

    def derive(self, purpose: str) -> list[bytes]:
        """A signing key per ring key for `purpose` (newest first): what the ring signs with
        rotates with it, and no key serves two purposes."""
        return [hmac.new(raw, purpose.encode(), hashlib.sha256).digest() for raw in self._raw]

    def reseal(self, sealed: bytes) -> bytes:
        """The same credentials sealed with the newest key."""
        try:
            return self._ring.rotate(sealed)
        except InvalidToken as exc:
            raise InvalidCredentialsKey("stored credentials do not open with these keys") from exc

    def sealed_with_newest(self, sealed: bytes) -> bool:
        try:
            self._fernets[0].decrypt(sealed)
        except InvalidToken:
            return False
        return True
