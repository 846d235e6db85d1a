"""X (API v2): posts with no idempotency (an ambiguous post is looked up on the user's
timeline before any retry), 280 weighted characters, rotating OAuth 2 refresh tokens, budgets
per user and per app."""

from datetime import timedelta

from chorus.common.kinds import Network
from chorus.networks.base import Idempotency, NetworkSpec, ReadbackScope
from chorus.networks.x.client import BATCH_SIZE, XClient
from chorus.networks.x.connect import XConnector
from chorus.networks.x.reads import READ_BUDGET
from chorus.networks.x.text import measure, problems, render

__all__ = ["SPEC", "XClient"]

SPEC = NetworkSpec(
    network=Network.X,
    label="X",
    idempotency=Idempotency.NONE,
    idempotency_window=None,
    # A timed-out POST /2/tweets may still complete: give it time before the look-up.
    settle_after_ambiguous=timedelta(seconds=30),
    # Public metrics are readable with any user token of the organisation.
    readback_scope=ReadbackScope.SERVER,
    read_budget=READ_BUDGET,
    readback_batch=BATCH_SIZE,
    reports=frozenset({"reshares", "likes", "replies", "impressions", "followers"}),
    render=render,
    problems=problems,
    measure=measure,
    client=XClient,
    connector=XConnector(),
    api_url="https://api.x.com",
    auth_url="https://x.com/i/oauth2/authorize",
    max_images=4,
    max_image_bytes=5 << 20,
)
