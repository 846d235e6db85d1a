"""Sending webhook deliveries to the CMS: due ones are claimed with a lease, POSTed signed,
and each attempt is written back to its row (delivered, retried later, or failed). Finished
deliveries older than the log's retention are deleted, in batches, at most once an hour.

The claim is its own short transaction (`FOR UPDATE SKIP LOCKED`, so scheduler replicas split
the work) that moves `next_attempt_at` to the end of a lease; no lock is held during the call.
A scheduler that dies mid-call leaves the delivery due again when the lease ends, and another
replica sends it: at least once, which is why every webhook carries `Chorus-Webhook-Id`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, text

from chorus.common.credentials import InvalidCredentialsKey, Keyring
from chorus.common.db import Database
from chorus.common.failures import PermanentFailure, TransientFailure
from chorus.common.http import NetworkHttp
from chorus.common.telemetry import WEBHOOK_ATTEMPTS
from chorus.common.wakeup import Wakeup, asyncpg_dsn, wait_for_work
from chorus.common.webhooks import backoff, envelope, signed_headers

__all__ = ["Attempt", "WebhookSender"]

log = logging.getLogger(__name__)

WEBHOOKS_CHANNEL = "chorus_webhooks"
ERROR_LIMIT = 500

_CLAIM = text(
    """
    WITH due AS (
        SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND next_attempt_at <= :now
        ORDER BY next_attempt_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_deliveries d SET next_attempt_at = :lease_until
    FROM due, webhook_endpoints e
    WHERE d.id = due.id AND e.id = d.endpoint_id
    RETURNING d.id, d.endpoint_id, d.event_id, d.event_type, d.payload, d.created_at,
              d.attempts, e.url, e.sealed_secret, e.active, e.disabled_at
    """
)

# Finished deliveries past the log's retention, a batch at a time (replicas skip each other's).
_FORGET = text(
    """
    DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE status IN ('delivered', 'failed') AND created_at < :before
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id
    """
)
SWEEP_EVERY = timedelta(hours=1)

# A 410 Gone is the CMS saying "no more": the endpoint is disabled (not deleted: it stays
# listed with the reason, and the CMS can enable it again), and what was still pending for it
# fails now instead of being retried for a day at an endpoint that will not take it.
_DISABLE = text(
    """
    WITH gone AS (
        UPDATE webhook_endpoints SET disabled_at = :now, disabled_reason = :reason
        WHERE id = ANY(:ids) AND disabled_at IS NULL
        RETURNING id
    )
    UPDATE webhook_deliveries d SET status = 'failed', last_error = :reason
    FROM gone WHERE d.endpoint_id = gone.id AND d.status = 'pending'
      AND d.next_attempt_at <= :now
    """
)
GONE_REASON = "the endpoint answered 410 Gone"

# Written only while the claim is still ours: the same attempts count and lease end.
_RECORD = text(
    """
    UPDATE webhook_deliveries SET
        status = :status,
        attempts = attempts + 1,
        next_attempt_at = :next_at,
        last_status_code = :status_code,
        last_error = :error,
        delivered_at = :delivered_at,
        attempt_log = attempt_log || CAST(:entry AS jsonb)
    WHERE id = :id AND status = 'pending' AND attempts = :seen AND next_attempt_at = :lease_until
    """
)


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    seen: int
    status_code: int | None
    error: str | None
    permanent: bool
    ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


class WebhookSender:
    """`await sender.run(stop)`; tests call `send_once()` with their own clock."""

    def __init__(
        self,
        *,
        db: Database,
        keyring: Keyring,
        http: NetworkHttp,
        database_url: str | None,
        max_attempts: int,
        batch_size: int = 50,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        jitter: Callable[[], float] | None = None,
        keep_log: timedelta = timedelta(days=30),
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._http = http
        self._dsn = asyncpg_dsn(database_url) if database_url else None
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        self._jitter = jitter or (lambda: random.uniform(-1.0, 1.0))
        # Longer than any one call may take, so a live sender never loses its claim.
        self._lease = timedelta(seconds=http.deadline * 2 + 30)
        self._keep_log = keep_log
        self._swept_at: datetime | None = None

    async def send_once(self) -> list[Attempt]:
        """Claim the due deliveries (one batch), send them at once, record each attempt."""
        now = self._clock()
        lease_until = now + self._lease
        async with self._db.sessions.begin() as session:
            rows = (
                await session.execute(
                    _CLAIM, {"now": now, "limit": self._batch_size, "lease_until": lease_until}
                )
            ).all()
        if not rows:
            return []
        attempts = await asyncio.gather(*(self._attempt(row, now) for row in rows))
        await self._record(attempts, now=now, lease_until=lease_until)
        return list(attempts)

    async def _attempt(self, row: Row[Any], now: datetime) -> Attempt:
        started = time.monotonic()

        def done(code: int | None, error: str | None, *, permanent: bool = False) -> Attempt:
            ms = int((time.monotonic() - started) * 1000)
            return Attempt(row.id, row.endpoint_id, row.attempts, code, error, permanent, ms)

        if not row.active:
            return done(None, "the endpoint was deleted", permanent=True)
        if row.disabled_at is not None:
            return done(None, "the endpoint is disabled", permanent=True)
        body = envelope(
            event_id=row.event_id,
            event_type=row.event_type,
            created_at=row.created_at,
            data=row.payload,
        )
        try:
            secret = self._keyring.open_text(row.sealed_secret)
            answer = await self._http.request(
                "webhook",
                "POST",
                row.url,
                effect=True,
                headers=signed_headers(secret, row.event_id, body, timestamp=int(now.timestamp())),
                content=body,
            )
        except PermanentFailure as exc:
            # Refused by the address policy: retrying would be refused again.
            return done(None, str(exc)[:ERROR_LIMIT], permanent=True)
        except (TransientFailure, InvalidCredentialsKey) as exc:
            return done(None, str(exc)[:ERROR_LIMIT])
        code = answer.status_code
        if code == 410:
            return done(code, GONE_REASON, permanent=True)
        return done(code, None if 200 <= code < 300 else f"the endpoint answered {code}")

    async def _record(
        self, attempts: Sequence[Attempt], *, now: datetime, lease_until: datetime
    ) -> None:
        async with self._db.sessions.begin() as session:
            for a in attempts:
                spent = a.seen + 1
                if a.delivered:
                    status, next_at = "delivered", now
                elif a.permanent or spent >= self._max_attempts:
                    status, next_at = "failed", now
                else:
                    status, next_at = "pending", now + backoff(spent, self._jitter())
                entry = {"at": now.isoformat(), "status_code": a.status_code, "ms": a.ms}
                if a.error is not None:
                    entry["error"] = a.error
                await session.execute(
                    _RECORD,
                    {
                        "id": a.delivery_id,
                        "seen": a.seen,
                        "lease_until": lease_until,
                        "status": status,
                        "next_at": next_at,
                        "status_code": a.status_code,
                        "error": a.error,
                        "delivered_at": now if a.delivered else None,
                        "entry": json.dumps([entry]),
                    },
                )
                if a.gone:
                    outcome = "disabled"
                elif a.delivered:
                    outcome = "delivered"
                else:
                    outcome = "retry" if status == "pending" else "failed"
                WEBHOOK_ATTEMPTS.labels(outcome).inc()
                if status == "failed":
                    log.warning("webhook delivery %s failed: %s", a.delivery_id, a.error)
            gone = sorted({a.endpoint_id for a in attempts if a.gone})
            if gone:
                # Its deliveries already due fail now; those waiting (a backoff, or another
                # sender's lease) fail when claimed, unless the CMS enables it first.
                await session.execute(_DISABLE, {"ids": gone, "now": now, "reason": GONE_REASON})
                log.warning("webhook endpoints %s answered 410 Gone: disabled", gone)

    async def forget_old(self, *, batch: int = 1000) -> int:
        """Delete finished deliveries older than the log's retention; returns how many."""
        before = self._clock() - self._keep_log
        total = 0
        while True:
            async with self._db.sessions.begin() as session:
                done = len(
                    (await session.execute(_FORGET, {"before": before, "batch": batch})).all()
                )
            total += done
            if done < batch:
                return total

    async def _sweep_if_due(self) -> None:
        now = self._clock()
        if self._swept_at is None or now - self._swept_at >= SWEEP_EVERY:
            self._swept_at = now
            await self.forget_old()

    async def run(self, stop: asyncio.Event) -> None:
        async with Wakeup(self._dsn, WEBHOOKS_CHANNEL) as wakeup:
            while not stop.is_set():
                try:
                    await self._sweep_if_due()
                    sent = len(await self.send_once())
                except Exception:
                    log.exception("webhook round failed; retrying")
                    sent = 0
                if sent < self._batch_size:
                    await wait_for_work(stop, wakeup, self._poll_seconds)
