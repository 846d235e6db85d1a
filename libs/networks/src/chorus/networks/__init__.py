"""The networks, one folder each (`mastodon/`, ...): the network's rules and rendering, its
client, later its OAuth flow, exported as a `NetworkSpec` that the registry finds.

    spec = spec_for(Network.MASTODON)
    post = spec.render(Content(message=..., url=...))
    client = spec.client(http, app_for(spec, settings.network_apps.get(network)))
"""

from chorus.networks.base import (
    AccountAccess,
    AppCredentials,
    ConnectedIdentity,
    Connector,
    Content,
    Idempotency,
    Image,
    Measure,
    MediaFile,
    NetworkClient,
    NetworkSpec,
    PostCounts,
    PostResult,
    RateBudget,
    ReadbackScope,
    ReadBudget,
    RenderedPost,
)
from chorus.networks.registry import app_for, publishable, spec_for, specs

__all__ = [
    "AccountAccess",
    "AppCredentials",
    "ConnectedIdentity",
    "Connector",
    "Content",
    "Idempotency",
    "Image",
    "Measure",
    "MediaFile",
    "NetworkClient",
    "NetworkSpec",
    "PostCounts",
    "PostResult",
    "RateBudget",
    "ReadBudget",
    "ReadbackScope",
    "RenderedPost",
    "app_for",
    "publishable",
    "spec_for",
    "specs",
]
