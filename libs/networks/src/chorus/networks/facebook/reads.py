"""Facebook's read budget: Graph calls with a page token count against that page's
Business Use Case limit (codes 17/32/613/80001), whatever the call, and every call against
the app's platform limit (code 4, `X-App-Usage`); the numbers grow with the page's engaged
users and are not published. Reads and posts spend the same budgets, so a read's throttle
holds the page's posts (or the app's, on code 4) and a post's holds its reads."""

from __future__ import annotations

from datetime import timedelta

from chorus.common.ratelimits import BudgetScope
from chorus.networks.base import ReadBudget

__all__ = ["READ_BUDGET"]


def _cost(posts: int, authors: int) -> int:
    # One call per post, and the page's followers.
    return posts + authors


READ_BUDGET = ReadBudget(
    scope=BudgetScope.ACCOUNT,
    shared_with_posting=True,
    window=timedelta(hours=1),
    cost=_cost,
)
