"""The Celery app and a typed face for its tasks (Celery ships no type information).

The delivery settings are what a careful team sets: a task is acknowledged only after it ran
(`acks_late`), and a task whose worker died under it goes back to the queue rather than being
acknowledged as failed (`task_reject_on_worker_lost`). No result backend: outcomes live in the
share rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast

from celery import Celery, signals

from bench.fanout.celery_peer.resources import warm_up

__all__ = ["FANOUT_QUEUE", "SHARES_QUEUE", "Task", "app", "task"]

FANOUT_QUEUE = "celery_peer.fanout"
SHARES_QUEUE = "celery_peer.shares"

P = ParamSpec("P")
R = TypeVar("R", covariant=True)

app: Any = Celery("celery_peer")
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    result_backend=None,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=SHARES_QUEUE,
    task_routes={"celery_peer.fan_out": {"queue": FANOUT_QUEUE}},
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


def _warm_up(**_: object) -> None:
    warm_up()


# Each process of the worker: the main one (the threads pool's, and a prefork parent that forks
# its children with the imports done) and every prefork child (its own connections).
signals.worker_init.connect(_warm_up, weak=False)
signals.worker_process_init.connect(_warm_up, weak=False)


class Task(Protocol, Generic[P, R]):
    """What the bench and the tasks use of a Celery task."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> object: ...


def task(*, name: str, **options: object) -> Callable[[Callable[P, R]], Task[P, R]]:
    """`@app.task(name=..., ...)`, typed."""
    return cast(Callable[[Callable[P, R]], Task[P, R]], app.task(name=name, **options))
