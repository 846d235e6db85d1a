"""A token bucket per API key, held in each gateway process.

    limiter = TokenBuckets.for_replica(rate=20, burst=200, replicas=2)
    wait = limiter.take(key_id)    # 0.0: go ahead; else seconds until a token is there

Why in the process and not in PostgreSQL: a shared bucket would be exact across replicas, but
it costs a write on every request, all of one key's requests updating one row under its lock.
That is a second round trip and a hot row on the path the API's budget is set for
(`POST /v1/campaigns` within 2x of a bare insert). Instead each replica allows its share:
rate and burst divided by `CHORUS_REPLICAS` (kept equal to the deployment's replica count).
With requests spread evenly by the load balancer a key gets about its configured rate; when
one replica gets more than its share of a key's requests, the key is held back there a little
early, never late. The limit protects the service from a runaway client; it is not billing,
so that approximation is the right trade. A replica that restarts starts with a full bucket.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBuckets"]


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    def __init__(
        self,
        *,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[uuid.UUID, _Bucket] = {}

    @classmethod
    def for_replica(
        cls,
        *,
        rate: float,
        burst: int,
        replicas: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> TokenBuckets:
        """This replica's share of a key's rate and burst."""
        return cls(rate=rate / replicas, burst=max(1.0, burst / replicas), clock=clock)

    def take(self, key: uuid.UUID) -> float:
        """Take one token from `key`'s bucket: 0.0 if there was one, else the seconds until
        there is (nothing is taken then)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(tokens=self.burst, at=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: memory stays bounded by the
        # keys actually sending, not by every key ever seen.
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self.rate < self.burst
        }
