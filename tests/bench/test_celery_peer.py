"""The bench's Celery peer is configured as the careful build it claims to be."""

from __future__ import annotations

from bench.fanout.celery_peer import app
from bench.fanout.celery_peer.app import FANOUT_QUEUE, SHARES_QUEUE


def test_a_share_task_is_acknowledged_after_it_ran_and_requeued_if_its_worker_dies() -> None:
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.task_ignore_result is True
    assert not conf.result_backend


def test_the_fan_out_and_the_shares_have_their_own_queues() -> None:
    assert {"celery_peer.fan_out", "celery_peer.post_share"} <= set(app.tasks)
    route = app.amqp.router.route({}, "celery_peer.fan_out")
    assert route["queue"].name == FANOUT_QUEUE
    assert app.amqp.router.route({}, "celery_peer.post_share")["queue"].name == SHARES_QUEUE
    assert app.tasks["celery_peer.post_share"].max_retries == 5
