"""The colleague's page link: a signed token naming the organisation, the colleague, the
colleague's link version and an expiry. No password: whoever holds the link is the colleague,
so it is short-lived (14 days by default), and revoked by bumping the colleague's
`page_token_version` (every link issued before stops working).

Signed with itsdangerous (HMAC-SHA256, constant-time checks, several keys for rotation) under
keys derived from the credentials key ring: no new secret to deploy, and rotating the ring
rotates the links too (links signed with the previous key keep working while it is in the ring).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.credentials import Keyring
from chorus.common.models import Ambassador

__all__ = ["LinkRefused", "PageLinks", "PageVisitor"]

_PURPOSE = "chorus.gateway.page-link"


@dataclass(frozen=True, slots=True)
class PageVisitor:
    """Who the link says the visitor is, checked against the database."""

    org_id: uuid.UUID
    ambassador: Ambassador


class LinkRefused(Exception):
    """The link cannot be used; `status` 401 (not a link of ours, or expired) or 403 (revoked)."""

    class Why(Enum):
        INVALID = "invalid"
        EXPIRED = "expired"
        REVOKED = "revoked"

    def __init__(self, why: LinkRefused.Why) -> None:
        super().__init__(why.value)
        self.why = why
        self.status = 403 if why is LinkRefused.Why.REVOKED else 401


class PageLinks:
    """`links.issue(ambassador, now)` -> (token, expires_at); `await links.open(...)`."""

    def __init__(self, keyring: Keyring, *, lifetime: timedelta = timedelta(days=14)) -> None:
        # itsdangerous signs with the last key and accepts any: the ring is newest first.
        self._serializer = URLSafeSerializer(
            list(reversed(keyring.derive(_PURPOSE))), salt="page-link"
        )
        self.lifetime = lifetime

    def issue(self, ambassador: Ambassador, *, now: datetime) -> tuple[str, datetime]:
        expires = now + self.lifetime
        token = self._serializer.dumps(
            {
                "o": str(ambassador.org_id),
                "a": str(ambassador.id),
                "v": ambassador.page_token_version,
                "e": int(expires.timestamp()),
            }
        )
        return token, expires

    def _claims(self, token: str) -> tuple[uuid.UUID, uuid.UUID, int, datetime]:
        try:
            claims = self._serializer.loads(token)
            return (
                uuid.UUID(claims["o"]),
                uuid.UUID(claims["a"]),
                int(claims["v"]),
                datetime.fromtimestamp(int(claims["e"]), UTC),
            )
        except (BadSignature, KeyError, TypeError, ValueError) as exc:
            raise LinkRefused(LinkRefused.Why.INVALID) from exc

    async def open(self, *, session: AsyncSession, token: str, now: datetime) -> PageVisitor:
        """The colleague the link is for, or LinkRefused: tampered, expired, revoked, left."""
        if len(token) > 500:
            raise LinkRefused(LinkRefused.Why.INVALID)
        org_id, ambassador_id, version, expires = self._claims(token)
        if expires <= now:
            raise LinkRefused(LinkRefused.Why.EXPIRED)
        ambassador = await session.scalar(
            select(Ambassador).where(Ambassador.id == ambassador_id, Ambassador.org_id == org_id)
        )
        if ambassador is None:
            raise LinkRefused(LinkRefused.Why.INVALID)
        if ambassador.page_token_version != version or ambassador.status == "left":
            raise LinkRefused(LinkRefused.Why.REVOKED)
        return PageVisitor(org_id=org_id, ambassador=ambassador)
