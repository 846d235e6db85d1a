"""The networks Chorus posts to, and one small interface per network (`NetworkClient`) that the
publisher calls to post and the metrics service calls to read counts back."""

from chorus.common.http import Requester
from chorus.common.networks.base import (
    AccountAccess,
    NetworkClient,
    PostCounts,
    PostResult,
)
from chorus.common.networks.kinds import PUBLISHABLE, Network
from chorus.common.networks.text import render_post, text_problems

__all__ = [
    "PUBLISHABLE",
    "AccountAccess",
    "Network",
    "NetworkClient",
    "PostCounts",
    "PostResult",
    "client_for",
    "render_post",
    "text_problems",
]


def client_for(network: Network, *, http: Requester) -> NetworkClient:
    """The client module for `network`; raises for networks not built yet."""
    from chorus.common.networks.mastodon import MastodonClient

    if network is Network.MASTODON:
        return MastodonClient(http=http)
    raise NotImplementedError(f"no client for {network.value} yet")
