"""The two tasks: fan a campaign out into shares, and post one share.

Exactly once the usual way: the share row is claimed with an UPDATE guarded by its status, so
a redelivered task whose share already has an outcome does nothing; a share claimed by a worker
that died mid-call is claimed again, and the network's Idempotency-Key (the share's id) turns
that second call into the first post rather than a new one.
"""

from __future__ import annotations

import httpx
from sqlalchemy import text

from bench.fanout.celery_peer.app import task
from bench.fanout.celery_peer.resources import resources

__all__ = ["TransientNetworkError", "fan_out", "post_share"]


class TransientNetworkError(Exception):
    """The network did not take the post this time (429, 5xx): worth another try."""


_MAKE_SHARES = text(
    """
    INSERT INTO celery_peer.shares (campaign_id, account_id)
    SELECT c.id, a.id
    FROM celery_peer.campaigns c JOIN celery_peer.accounts a ON a.org_id = c.org_id
    WHERE c.id = :campaign_id
    ON CONFLICT (campaign_id, account_id) DO NOTHING
    """
)
_PENDING = text(
    "SELECT id FROM celery_peer.shares WHERE campaign_id = :campaign_id AND status = 'pending'"
)
_CLAIM = text(
    """
    UPDATE celery_peer.shares s
    SET status = 'posting', attempts = s.attempts + 1
    FROM celery_peer.accounts a, celery_peer.campaigns c
    WHERE s.id = :share_id AND s.status IN ('pending', 'posting')
      AND a.id = s.account_id AND c.id = s.campaign_id
    RETURNING a.base_url, a.access_token, c.text
    """
)
_RECORD = text(
    """
    UPDATE celery_peer.shares
    SET status = :status, remote_id = :remote_id, error = :error,
        finished_at = clock_timestamp()
    WHERE id = :share_id AND status = 'posting'
    """
)


@task(name="celery_peer.fan_out")
def fan_out(campaign_id: str) -> int:
    """One share row per account of the campaign's organisation, one task per share. Run
    again (redelivered), it enqueues the shares still pending; their claims drop duplicates."""
    engine = resources().engine
    with engine.begin() as db:
        db.execute(_MAKE_SHARES, {"campaign_id": campaign_id})
        share_ids = [str(row.id) for row in db.execute(_PENDING, {"campaign_id": campaign_id})]
    for share_id in share_ids:
        post_share.delay(share_id)
    return len(share_ids)


@task(
    name="celery_peer.post_share",
    autoretry_for=(httpx.TransportError, TransientNetworkError),
    retry_backoff=True,
    max_retries=5,
)
def post_share(share_id: str) -> None:
    res = resources()
    with res.engine.begin() as db:
        claimed = db.execute(_CLAIM, {"share_id": share_id}).one_or_none()
    if claimed is None:
        return  # already has its outcome: a redelivery
    answer = res.http.post(
        f"{claimed.base_url}/api/v1/statuses",
        headers={"Authorization": f"Bearer {claimed.access_token}", "Idempotency-Key": share_id},
        json={"status": claimed.text, "visibility": "public"},
    )
    if answer.status_code == 429 or answer.status_code >= 500:
        raise TransientNetworkError(f"{answer.status_code} {answer.text[:200]}")
    posted = answer.is_success
    with res.engine.begin() as db:
        db.execute(
            _RECORD,
            {
                "share_id": share_id,
                "status": "posted" if posted else "failed",
                "remote_id": str(answer.json()["id"]) if posted else None,
                "error": None if posted else f"{answer.status_code} {answer.text[:500]}",
            },
        )
