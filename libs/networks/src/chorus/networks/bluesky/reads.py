"""Bluesky's read budget: the PDS counts 3000 requests per 5 minutes per IP (`RateLimit-*`
headers, `Retry-After` on its 429). Every read Chorus sends to one PDS comes from Chorus, so
the budget is the server's, across organisations. Posts spend that bucket too, but a post's
429 is usually the DID's own write points (which reads never spend) and cannot be told apart,
so the publishers hold the account and reads follow only their own server holds; the
collector takes half of the 3000, leaving the rest to posting."""

from __future__ import annotations

from datetime import timedelta

from chorus.common.ratelimits import BudgetScope
from chorus.networks.base import ReadBudget
from chorus.networks.bluesky.client import BATCH_SIZE

__all__ = ["READ_BUDGET"]


def _cost(posts: int, authors: int) -> int:
    # getPosts by 25, and getProfile per author for followers.
    return -(-posts // BATCH_SIZE) + authors


READ_BUDGET = ReadBudget(
    scope=BudgetScope.SERVER,
    shared_with_posting=False,
    requests=1500,
    window=timedelta(minutes=5),
    cost=_cost,
)
