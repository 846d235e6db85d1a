"""The networks, one folder each (`mastodon/`, ...): the network's rules and rendering, its
client, later its OAuth flow, exported as a `NetworkSpec` that the registry finds.

    spec = spec_for(Network.MASTODON)
    post = spec.render(Content(message=..., url=...))
    client = spec.client(http)
"""

from chorus.networks.base import (
    AccountAccess,
    Content,
    Idempotency,
    NetworkClient,
    NetworkSpec,
    PostCounts,
    PostResult,
    RateBudget,
    ReadbackScope,
    RenderedPost,
)
from chorus.networks.registry import publishable, spec_for, specs

__all__ = [
    "AccountAccess",
    "Content",
    "Idempotency",
    "NetworkClient",
    "NetworkSpec",
    "PostCounts",
    "PostResult",
    "RateBudget",
    "ReadbackScope",
    "RenderedPost",
    "publishable",
    "spec_for",
    "specs",
]
