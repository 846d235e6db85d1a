"""Account credentials, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

Tokens are decrypted only in the process that calls the network, and never logged or returned.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["CredentialsBox", "InvalidCredentialsKey", "new_key"]


class InvalidCredentialsKey(ValueError):
    """The configured key is missing or malformed, or cannot open stored credentials."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class CredentialsBox:
    def __init__(self, key: str) -> None:
        if not key:
            raise InvalidCredentialsKey("CHORUS_CREDENTIALS_KEY is not set")
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise InvalidCredentialsKey(
                "CHORUS_CREDENTIALS_KEY must be a Fernet key (32 bytes, urlsafe base64)"
            ) from exc

    def seal(self, secrets: dict[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(secrets).encode())

    def open(self, sealed: bytes) -> dict[str, str]:
        try:
            value = json.loads(self._fernet.decrypt(sealed))
        except InvalidToken as exc:
            raise InvalidCredentialsKey("stored credentials do not open with this key") from exc
        if not isinstance(value, dict):
            raise InvalidCredentialsKey("stored credentials are not an object")
        return {str(k): str(v) for k, v in value.items()}
