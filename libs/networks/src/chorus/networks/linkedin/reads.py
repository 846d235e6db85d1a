"""LinkedIn's read budget: daily counters per application and per member, reset at midnight
UTC, counted per API (the Developer Portal shows each endpoint's own), numbers unpublished,
and a 429 with no headers. Analytics reads are not `/rest/posts`, so a read's 429 holds that
member's reads only, until midnight UTC, and never their posts. A 429 cannot say whether the
member's or the app's counter ran out: holding the member costs one 429 per member when it is
the app's, where holding the app would stop every member's reads for a day on one member's
limit."""

from __future__ import annotations

from datetime import timedelta

from chorus.common.ratelimits import BudgetScope
from chorus.networks.base import ReadBudget

__all__ = ["READ_BUDGET"]


def _cost(posts: int, authors: int) -> int:
    # One metric per call (four per post), and the member's followers.
    return 4 * posts + authors


READ_BUDGET = ReadBudget(
    scope=BudgetScope.ACCOUNT,
    shared_with_posting=False,
    window=timedelta(days=1),
    cost=_cost,
)
