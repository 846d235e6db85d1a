"""Mastodon's read budget: 300 requests per 5 minutes per account for everything under
/api/* (docs.joinmastodon.org, rate limits), statuses posted included. Reads and posts spend
one budget, so a read's 429 holds the account's posts too, and a post's 429 holds its reads.
The collector takes at most half of it: the rest is left to posting and to the colleague's
own apps on the same account."""

from __future__ import annotations

from datetime import timedelta

from chorus.common.ratelimits import BudgetScope
from chorus.networks.base import ReadBudget
from chorus.networks.mastodon.client import BATCH_SIZE

__all__ = ["READ_BUDGET"]


def _cost(posts: int, authors: int) -> int:
    # Statuses carry their author's followers: no request per account in the usual case.
    return -(-posts // BATCH_SIZE)


READ_BUDGET = ReadBudget(
    scope=BudgetScope.ACCOUNT,
    shared_with_posting=True,
    requests=150,
    window=timedelta(minutes=5),
    cost=_cost,
)
