"""Turning the environment into settings at start, with a clear refusal when it is wrong:
one line naming what to fix, exit code 2, no stack trace."""

from __future__ import annotations

import sys
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError

from chorus.common.credentials.keyring import InvalidCredentialsKey, Keyring
from chorus.common.settings import CredentialSettings

__all__ = ["ConfigurationError", "keyring_from", "load_settings"]

S = TypeVar("S", bound=BaseSettings)


class ConfigurationError(SystemExit):
    def __init__(self, message: str) -> None:
        print(f"chorus: configuration error: {message}", file=sys.stderr)
        super().__init__(2)


def load_settings(cls: type[S]) -> S:
    try:
        return cls()
    except SettingsError as exc:
        # A structured setting (CHORUS_NETWORK_APPS) that is not JSON: say which, not how.
        raise ConfigurationError(str(exc).replace("error parsing value for field", "")) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(problems) from None


def keyring_from(settings: CredentialSettings) -> Keyring:
    try:
        return Keyring.from_setting(settings.credentials_key.get_secret_value())
    except InvalidCredentialsKey as exc:
        raise ConfigurationError(str(exc)) from None
