"""An account's credentials, in one place: sealed at rest under a key ring, opened only where
the network is called, refreshed under a row lock, erased when consent is withdrawn, each change
of consent recorded in the ledger.

    python -m chorus.common.credentials reseal     # after putting a new key first
"""

from chorus.common.credentials.consent import (
    change_mode,
    consent_expiry,
    record_consent,
    renew_consent,
)
from chorus.common.credentials.keyring import (
    Credentials,
    InvalidCredentialsKey,
    Keyring,
    new_key,
)
from chorus.common.credentials.store import (
    AccountTaken,
    AccountUnavailable,
    ConnectedAccount,
    connect_account,
    erase_credentials,
    mark_needs_reauth,
    refresh_credentials,
    remote_key,
    reseal_all,
)

__all__ = [
    "AccountTaken",
    "AccountUnavailable",
    "ConnectedAccount",
    "Credentials",
    "InvalidCredentialsKey",
    "Keyring",
    "change_mode",
    "connect_account",
    "consent_expiry",
    "erase_credentials",
    "mark_needs_reauth",
    "new_key",
    "record_consent",
    "refresh_credentials",
    "remote_key",
    "renew_consent",
    "reseal_all",
]
