import pytest

from chorus.common.credentials import CredentialsBox, InvalidCredentialsKey, new_key


def test_sealed_credentials_open_only_with_their_key() -> None:
    box = CredentialsBox(new_key())
    sealed = box.seal({"access_token": "secret-token"})
    assert b"secret-token" not in sealed
    assert box.open(sealed) == {"access_token": "secret-token"}
    with pytest.raises(InvalidCredentialsKey):
        CredentialsBox(new_key()).open(sealed)


@pytest.mark.parametrize("key", ["", "not-a-fernet-key"])
def test_a_bad_key_is_refused_at_start(key: str) -> None:
    with pytest.raises(InvalidCredentialsKey):
        CredentialsBox(key)
