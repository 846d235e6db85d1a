"""What every network client does the same way: build a URL under the account's API base, send
its bearer token, and say that an answer was not what the contract promised."""

from __future__ import annotations

from chorus.common.failures import TransientFailure
from chorus.networks.base import AccountAccess

__all__ = ["account_url", "bearer", "unusable", "url_of"]


def url_of(base: str, path: str) -> str:
    return base.rstrip("/") + path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unusable(network: str, what: str, *, sent: bool = False) -> TransientFailure:
    """An answer without what the contract promised. After a post, whether it posted is
    unknown: ambiguous, so it is looked up before any retry."""
    return TransientFailure(f"{network} answered without {what}", ambiguous=sent)


def account_url(account: AccountAccess, path: str) -> str:
    return url_of(account.base_url, path)
