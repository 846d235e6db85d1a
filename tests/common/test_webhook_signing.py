"""The webhook wire format, without servers: what a CMS's verifier must agree with."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

from chorus.common.webhooks import BACKOFF, backoff, envelope, sign, signed_headers, verify


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_raw_body() -> None:
    body = b'{"id":"x","type":"share.failed"}'
    expected = hmac.new(b"whsec_k", b"1764262800." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_k", 1764262800, body) == f"t=1764262800,v1={expected}"
    headers = signed_headers("whsec_k", uuid.UUID(int=1), body, timestamp=1764262800)
    assert headers["Chorus-Signature"] == f"t=1764262800,v1={expected}"
    assert headers["Chorus-Webhook-Timestamp"] == "1764262800"


def test_verify_refuses_tampering_other_secrets_replays_and_garbage() -> None:
    body = b'{"a":1}'
    header = sign("s", 1000, body)
    assert verify("s", header, body, now=1000)
    assert verify("s", header, body, now=1300) and verify("s", header, body, now=700)
    assert not verify("s", header, body, now=1301)  # too old: a replay
    assert not verify("s", header, b'{"a":2}', now=1000)
    assert not verify("t", header, body, now=1000)
    assert not verify("s", header.replace("t=1000", "t=1001"), body, now=1000)
    for broken in ("", "t=x,v1=00", "v1=00", "t=1000"):
        assert not verify("s", broken, body, now=1000)


def test_the_envelope_carries_id_type_time_and_data() -> None:
    at = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    sent = json.loads(
        envelope(
            event_id=uuid.UUID(int=7), event_type="consent.withdrawn", created_at=at, data={"k": 1}
        )
    )
    assert sent == {
        "id": str(uuid.UUID(int=7)),
        "type": "consent.withdrawn",
        "created_at": "2026-11-27T18:00:00+00:00",
        "data": {"k": 1},
    }


def test_backoff_grows_to_about_a_day_and_jitter_stays_within_a_fifth() -> None:
    assert backoff(1, 0) == timedelta(seconds=30) and backoff(2, 0) == timedelta(minutes=2)
    assert backoff(50, 0) == BACKOFF[-1]
    assert backoff(1, 1) == timedelta(seconds=36) and backoff(1, -1) == timedelta(seconds=24)
    assert timedelta(hours=24) < sum(BACKOFF, timedelta()) < timedelta(hours=30)
