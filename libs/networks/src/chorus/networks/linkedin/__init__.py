"""LinkedIn (Posts API) for members posting as themselves: no idempotency (an ambiguous post is
looked up among the member's posts before any retry), little-text escaping, article cards we
build, 60-day tokens, a daily limit that resets at midnight UTC."""

from datetime import timedelta

from chorus.common.kinds import Network
from chorus.networks.base import Idempotency, NetworkSpec, ReadbackScope
from chorus.networks.linkedin.client import DEFAULT_VERSION, LinkedInClient
from chorus.networks.linkedin.connect import LinkedInConnector
from chorus.networks.linkedin.reads import READ_BUDGET
from chorus.networks.linkedin.text import measure, problems, render

__all__ = ["SPEC", "LinkedInClient"]

SPEC = NetworkSpec(
    network=Network.LINKEDIN,
    label="LinkedIn",
    idempotency=Idempotency.NONE,
    idempotency_window=None,
    settle_after_ambiguous=timedelta(seconds=30),
    # Member analytics are the author's own: read with the author's token only.
    readback_scope=ReadbackScope.ACCOUNT,
    # Four calls per post (one metric each): few posts per batch.
    read_budget=READ_BUDGET,
    readback_batch=10,
    reports=frozenset({"reshares", "likes", "replies", "impressions", "followers"}),
    render=render,
    problems=problems,
    measure=measure,
    client=LinkedInClient,
    connector=LinkedInConnector(),
    api_url="https://api.linkedin.com",
    auth_url="https://www.linkedin.com/oauth/v2/authorization",
    version=DEFAULT_VERSION,
    max_images=9,
    max_image_bytes=8 << 20,
    consent_lifetime=timedelta(days=365),
)
