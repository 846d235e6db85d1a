"""The Celery peer of the fan-out bench: the same job built the way most Python teams would
build it. `celery -A bench.fanout.celery_peer worker` finds `app` here.

A fan-out task reads the campaign's accounts from PostgreSQL, makes one share row per account
and enqueues one task per share; each share task claims its row, posts the status to the
colleague's Mastodon with an Idempotency-Key and records the outcome.
"""

from bench.fanout.celery_peer import tasks
from bench.fanout.celery_peer.app import app

__all__ = ["app", "tasks"]
