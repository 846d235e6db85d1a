"""Credentials sealed under a key ring: every key opens, the newest seals, rotation re-seals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chorus.common.credentials import Credentials, InvalidCredentialsKey, Keyring, new_key


def test_sealed_credentials_open_only_with_their_key() -> None:
    ring = Keyring([new_key()])
    secret = Credentials(
        access_token="secret-token",
        refresh_token="refresh",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        extra={"did": "did:plc:abc"},
    )
    sealed = ring.seal(secret)
    assert b"secret-token" not in sealed
    assert ring.open(sealed) == secret
    assert "secret-token" not in repr(secret)
    with pytest.raises(InvalidCredentialsKey):
        Keyring([new_key()]).open(sealed)


def test_a_ring_opens_with_every_key_and_seals_with_the_newest() -> None:
    old, new = new_key(), new_key()
    sealed_old = Keyring([old]).seal(Credentials(access_token="t"))
    ring = Keyring.from_setting(f"{new},{old}")
    assert ring.open(sealed_old).access_token == "t"
    assert not ring.sealed_with_newest(sealed_old)
    resealed = ring.reseal(sealed_old)
    assert ring.sealed_with_newest(resealed)
    assert Keyring([new]).open(resealed).access_token == "t"  # the old key can now go


def test_credentials_stored_before_the_ring_still_open() -> None:
    from cryptography.fernet import Fernet

    key = new_key()
    legacy = Fernet(key.encode()).encrypt(b'{"access_token": "old-style"}')
    assert Keyring([key]).open(legacy) == Credentials(access_token="old-style")


@pytest.mark.parametrize("keys", ["", " , ", "not-a-fernet-key", f"{new_key()},nope"])
def test_a_bad_key_is_refused_at_start(keys: str) -> None:
    with pytest.raises(InvalidCredentialsKey):
        Keyring.from_setting(keys)
