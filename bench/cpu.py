"""CPU seconds of everything a bench run started, by part: where a share's cost goes."""

from __future__ import annotations

import psutil

from chorus.devstack.stack import Stack

__all__ = ["cpu_seconds"]

_PARTS = {
    "chorus.gateway": "gateway",
    "chorus.scheduler": "scheduler",
    "chorus.publisher": "publisher",
    "chorus.metrics": "metrics",
    "chorus.netsim": "simulator",
    "bench.fanout.celery_peer": "celery",
    "postgres": "postgresql",
    "beam.smp": "rabbitmq",
}


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds so far by part; a process that has exited counts no more."""
    roots = [psutil.Process()]
    if stack.postgres is not None and stack.postgres.pid is not None:
        roots.append(psutil.Process(stack.postgres.pid))
    procs = [p for root in roots for p in [root, *root.children(recursive=True)]]
    totals: dict[str, float] = {}
    for proc in procs:
        try:
            command = " ".join(proc.cmdline())
            times = proc.cpu_times()
        except psutil.Error:
            continue
        for marker, part in _PARTS.items():
            if marker in command:
                totals[part] = totals.get(part, 0.0) + times.user + times.system
                break
    return totals
