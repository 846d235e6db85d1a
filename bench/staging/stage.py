"""The staging process the bench measures:
`python -m bench.staging.stage URL ORG CAMPAIGN copy|unnest`.

Prints its database backends' pids first (the parent samples their memory and CPU): the
staging's own and its reader's (the audience is read on a second connection),
then `staged N seconds cpu_seconds peak_rss_bytes` once the scheduler's own handler has staged
the campaign.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import uuid
from datetime import timedelta
from typing import Literal

from sqlalchemy import text

from chorus.common.db import open_database
from chorus.common.messages import CampaignCreated
from chorus.common.settings import DatabaseSettings
from chorus.common.shares import StagingRules
from chorus.scheduler.handlers import SchedulerHandlers


# As bench-spreading: a one-second gap per network; no app budget (a million shares over two
# weeks would spend X's 10,000 a day and skip the rest, which measures nothing).
def rules(insert: str) -> StagingRules:
    how: Literal["copy", "unnest"] = "unnest" if insert == "unnest" else "copy"
    return StagingRules(min_gap=timedelta(seconds=1), app_daily_budgets={}, insert=how)


async def _stage(database_url: str, org_id: uuid.UUID, campaign_id: uuid.UUID, insert: str) -> None:
    # Two connections, the staging's and its reader's: their backends are the ones printed.
    db = open_database(
        DatabaseSettings(database_url=database_url, database_pool_size=2), application_name="bench"
    )
    try:
        async with db.engine.connect() as first, db.engine.connect() as second:
            pids = [await c.scalar(text("SELECT pg_backend_pid()")) for c in (first, second)]
        print(*pids, flush=True)
        started, cpu = time.perf_counter(), time.process_time()
        await SchedulerHandlers(db=db, rules=rules(insert)).campaign_created(
            CampaignCreated(campaign_id=campaign_id, org_id=org_id)
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        async with db.sessions() as session:
            staged = await session.scalar(
                text("SELECT shares_planned FROM campaigns WHERE id = :id"), {"id": campaign_id}
            )
    finally:
        await db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"staged {staged} {seconds:.3f} {cpu:.3f} {peak}", flush=True)


if __name__ == "__main__":
    asyncio.run(_stage(sys.argv[1], uuid.UUID(sys.argv[2]), uuid.UUID(sys.argv[3]), sys.argv[4]))
