"""One database engine and one HTTP client per worker process, made on first use: a prefork
child must not share its parent's sockets, so each process (told apart by pid) makes its own."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, create_engine

from bench.fanout.celery_peer.settings import PeerSettings

__all__ = ["Resources", "resources"]


@dataclass(frozen=True)
class Resources:
    engine: Engine
    http: httpx.Client


_made: dict[int, Resources] = {}
_lock = threading.Lock()


def resources() -> Resources:
    pid = os.getpid()
    found = _made.get(pid)
    if found is not None:
        return found
    with _lock:
        if pid not in _made:
            settings = PeerSettings()
            _made[pid] = Resources(
                engine=create_engine(
                    settings.database_url,
                    pool_size=settings.database_pool_size,
                    max_overflow=settings.database_max_overflow,
                ),
                http=httpx.Client(
                    timeout=settings.http_timeout_seconds,
                    limits=httpx.Limits(
                        max_connections=settings.http_max_connections,
                        max_keepalive_connections=settings.http_max_connections,
                    ),
                ),
            )
        return _made[pid]


def warm_up() -> None:
    """This process's engine and client made, and one database connection opened, before the
    first task: what a worker pays once at start stays out of a share's cost."""
    made = resources()
    with made.engine.connect():
        pass
