"""Mastodon (and Mastodon-API servers): statuses with Idempotency-Key on the colleague's own
instance, public counts, no impressions."""

from datetime import timedelta

from chorus.common.kinds import Network
from chorus.networks.base import Idempotency, NetworkSpec, ReadbackScope
from chorus.networks.mastodon.client import BATCH_SIZE, MastodonClient
from chorus.networks.mastodon.connect import MastodonConnector, register_app
from chorus.networks.mastodon.reads import READ_BUDGET
from chorus.networks.mastodon.text import measure, problems, render

__all__ = ["SPEC", "MastodonClient"]

SPEC = NetworkSpec(
    network=Network.MASTODON,
    label="Mastodon",
    idempotency=Idempotency.KEY,
    # "keys are stored for up to 1 hour" (POST /api/v1/statuses).
    idempotency_window=timedelta(hours=1),
    # Mastodon stores a key only once its status exists: a retry racing a first request still
    # being processed would post twice, so an ambiguous attempt is given a minute first.
    settle_after_ambiguous=timedelta(seconds=60),
    # Statuses and their counts are public on the server: any account of the organisation
    # there reads them in batches.
    readback_scope=ReadbackScope.SERVER,
    read_budget=READ_BUDGET,
    readback_batch=BATCH_SIZE,
    reports=frozenset({"reshares", "likes", "replies", "followers"}),
    render=render,
    problems=problems,
    measure=measure,
    client=MastodonClient,
    connector=MastodonConnector(),
    register_app=register_app,
)
