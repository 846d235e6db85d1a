"""X's read budget: per endpoint and per user token, in 15-minute windows reported on every
answer (`x-rate-limit-*`, epoch reset). `GET /2/tweets` has a window of its own, apart from
`POST /2/tweets` and its 24-hour caps, so reads and posts never hold each other. The numbers
differ by access tier: X says to read them from the headers, so no number is declared here
and a window the headers say is spent holds that user's reads until its reset. Reads also
count toward the app's monthly consumption cap (pay-per-use billing): a month is no window to
pace by, so it is left to the operator's plan, and its 429 holds like any other."""

from __future__ import annotations

from datetime import timedelta

from chorus.common.ratelimits import BudgetScope
from chorus.networks.base import ReadBudget
from chorus.networks.x.client import BATCH_SIZE

__all__ = ["READ_BUDGET"]


def _cost(posts: int, authors: int) -> int:
    # Batches of 100 ids, and `GET /2/users/me` per author for followers.
    return -(-posts // BATCH_SIZE) + authors


READ_BUDGET = ReadBudget(
    scope=BudgetScope.ACCOUNT,
    shared_with_posting=False,
    window=timedelta(minutes=15),
    cost=_cost,
)
