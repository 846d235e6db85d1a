"""Facebook Pages (Graph API): page tokens that do not expire, no idempotency (an ambiguous
post is looked up in the page's feed before any retry), throttling by error code."""

from datetime import timedelta

from chorus.common.kinds import Network
from chorus.networks.base import Idempotency, NetworkSpec, ReadbackScope
from chorus.networks.facebook.client import DEFAULT_VERSION, FacebookClient
from chorus.networks.facebook.connect import FacebookConnector
from chorus.networks.facebook.reads import READ_BUDGET
from chorus.networks.facebook.text import manual_link, measure, problems, render

__all__ = ["SPEC", "FacebookClient"]

SPEC = NetworkSpec(
    network=Network.FACEBOOK,
    label="Facebook Pages",
    idempotency=Idempotency.NONE,
    idempotency_window=None,
    settle_after_ambiguous=timedelta(seconds=30),
    # Engagement on a page's post is read with that page's token.
    readback_scope=ReadbackScope.ACCOUNT,
    read_budget=READ_BUDGET,
    readback_batch=25,
    reports=frozenset({"reshares", "likes", "replies", "followers"}),
    render=render,
    problems=problems,
    measure=measure,
    client=FacebookClient,
    connector=FacebookConnector(),
    manual_link=manual_link,
    api_url="https://graph.facebook.com",
    auth_url=f"https://www.facebook.com/{DEFAULT_VERSION}/dialog/oauth",
    version=DEFAULT_VERSION,
    max_images=10,
    max_image_bytes=4 << 20,
)
