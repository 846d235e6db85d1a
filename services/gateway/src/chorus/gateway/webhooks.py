"""An organisation's webhook endpoints (the signing secret sealed, shown once) and their
delivery log. The scheduler sends the deliveries; here they are only made visible."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.addresses import AddressPolicy, DestinationRefused
from chorus.common.credentials import Keyring
from chorus.common.models import WebhookDelivery as DeliveryRow
from chorus.common.models import WebhookEndpoint
from chorus.common.webhooks import new_secret
from chorus.gateway.problems import Problem
from chorus.gateway.webhook_schemas import (
    DeliveryAttempt,
    DeliveryPage,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEventType,
    WebhookIn,
    WebhookOut,
    WebhookSecret,
    WebhookStatus,
)

__all__ = [
    "create_endpoint",
    "delete_endpoint",
    "enable_endpoint",
    "list_deliveries",
    "list_endpoints",
    "redeliver",
    "rotate_secret",
]


def _out(row: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        events=[WebhookEventType(e) for e in row.events],
        created_at=row.created_at,
        status=WebhookStatus.DISABLED if row.disabled_at else WebhookStatus.ACTIVE,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
    )


async def create_endpoint(
    *,
    session: AsyncSession,
    keyring: Keyring,
    policy: AddressPolicy,
    org_id: uuid.UUID,
    body: WebhookIn,
) -> WebhookSecret:
    url = str(body.url)
    try:
        # The address is checked again at every delivery, after resolving the name.
        policy.check_url(url)
    except DestinationRefused as exc:
        raise Problem(
            422,
            "The request does not validate.",
            errors=[{"location": ["body", "url"], "message": str(exc)}],
        ) from exc
    secret = new_secret()
    row = await session.scalar(
        insert(WebhookEndpoint)
        .values(
            org_id=org_id,
            url=url,
            sealed_secret=keyring.seal_text(secret),
            events=[e.value for e in body.events],
        )
        .returning(WebhookEndpoint)
    )
    assert row is not None
    return WebhookSecret(**_out(row).model_dump(), secret=secret)


async def list_endpoints(*, session: AsyncSession, org_id: uuid.UUID) -> list[WebhookOut]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == org_id, WebhookEndpoint.active)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return [_out(row) for row in rows]


async def _owned(session: AsyncSession, org_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    found = await session.scalar(
        select(WebhookEndpoint.id).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.org_id == org_id,
            WebhookEndpoint.active,
        )
    )
    if found is None:
        raise Problem(404, "No such webhook for this organisation.")


async def delete_endpoint(
    *, session: AsyncSession, org_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    """The endpoint gets nothing more; what was still to send to it fails. The row stays
    (inactive) so the deliveries it had keep their history."""
    gone = await session.scalar(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.org_id == org_id,
            WebhookEndpoint.active,
        )
        .values(active=False)
        .returning(WebhookEndpoint.id)
    )
    if gone is None:
        raise Problem(404, "No such webhook for this organisation.")
    await session.execute(
        update(DeliveryRow)
        .where(DeliveryRow.endpoint_id == endpoint_id, DeliveryRow.status == "pending")
        .values(status="failed", last_error="the endpoint was deleted")
    )


async def rotate_secret(
    *, session: AsyncSession, keyring: Keyring, org_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookSecret:
    """A new signing secret, used from the next attempt on; the old one stops at once."""
    row = await session.scalar(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.org_id == org_id,
            WebhookEndpoint.active,
        )
        .values(sealed_secret=keyring.seal_text(secret := new_secret()))
        .returning(WebhookEndpoint)
    )
    if row is None:
        raise Problem(404, "No such webhook for this organisation.")
    return WebhookSecret(**_out(row).model_dump(), secret=secret)


def _cursor(row: DeliveryRow) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Problem(
            422,
            "The request does not validate.",
            errors=[{"location": ["query", "cursor"], "message": "not a cursor we gave out"}],
        ) from exc


def _delivery(row: DeliveryRow) -> WebhookDelivery:
    pending = row.status == DeliveryStatus.PENDING
    return WebhookDelivery(
        id=row.id,
        event_id=row.event_id,
        event_type=WebhookEventType(row.event_type),
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if pending else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        payload=row.payload,
        attempt_log=[DeliveryAttempt.model_validate(a) for a in row.attempt_log],
    )


async def list_deliveries(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> DeliveryPage:
    await _owned(session, org_id, endpoint_id)
    query = select(DeliveryRow).where(
        DeliveryRow.endpoint_id == endpoint_id, DeliveryRow.org_id == org_id
    )
    if cursor is not None:
        at, ident = _after(cursor)
        query = query.where(tuple_(DeliveryRow.created_at, DeliveryRow.id) < (at, ident))
    rows = list(
        await session.scalars(
            query.order_by(DeliveryRow.created_at.desc(), DeliveryRow.id.desc()).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(
        items=[_delivery(row) for row in rows],
        next_cursor=_cursor(rows[-1]) if more and rows else None,
    )


async def enable_endpoint(
    *, session: AsyncSession, org_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookOut:
    """Send events there again, from the next event on; what failed while it was disabled is
    in the log, and each can be redelivered."""
    row = await session.scalar(
        update(WebhookEndpoint)
        .where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.org_id == org_id,
            WebhookEndpoint.active,
        )
        .values(disabled_at=None, disabled_reason=None)
        .returning(WebhookEndpoint)
    )
    if row is None:
        raise Problem(404, "No such webhook for this organisation.")
    return _out(row)


async def redeliver(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> WebhookDelivery:
    """Send a finished delivery (delivered or failed) again, now, with a fresh budget of
    attempts; its log keeps the earlier ones. One still pending is left as it is: it is
    going out already, and touching it could race the sender's claim."""
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id,
            WebhookEndpoint.org_id == org_id,
            WebhookEndpoint.active,
        )
    )
    if endpoint is None:
        raise Problem(404, "No such webhook for this organisation.")
    if endpoint.disabled_at is not None:
        raise Problem(
            409,
            "The webhook is disabled (it answered 410 Gone): enable it first.",
        )
    row = await session.scalar(
        update(DeliveryRow)
        .where(
            DeliveryRow.id == delivery_id,
            DeliveryRow.endpoint_id == endpoint_id,
            DeliveryRow.status != DeliveryStatus.PENDING.value,
        )
        .values(
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=func.now(),
            delivered_at=None,
        )
        .returning(DeliveryRow)
    )
    if row is None:
        row = await session.scalar(
            select(DeliveryRow).where(
                DeliveryRow.id == delivery_id, DeliveryRow.endpoint_id == endpoint_id
            )
        )
        if row is None:
            raise Problem(404, "No such delivery for this webhook.")
        return _delivery(row)
    # Wake the scheduler's sender (new deliveries wake it by trigger; this is an update).
    await session.execute(text("SELECT pg_notify('chorus_webhooks', '')"))
    return _delivery(row)
