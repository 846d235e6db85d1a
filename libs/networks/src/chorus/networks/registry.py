"""The networks Chorus can post to: every subpackage of `chorus.networks` that exports a
`SPEC`. Adding a network is adding a folder; nothing here names one."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from chorus.common.kinds import Network
from chorus.common.settings import NetworkApp
from chorus.networks.base import AppCredentials, NetworkSpec

__all__ = ["app_for", "publishable", "spec_for", "specs"]


@functools.cache
def specs() -> dict[Network, NetworkSpec]:
    """Every network folder's spec, by network."""
    import chorus.networks as package

    found: dict[Network, NetworkSpec] = {}
    for module in pkgutil.iter_modules(package.__path__):
        if not module.ispkg:
            continue
        spec = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "SPEC", None)
        if isinstance(spec, NetworkSpec):
            if spec.network in found:
                raise RuntimeError(f"two folders declare {spec.network.value}")
            found[spec.network] = spec
    return found


def spec_for(network: Network) -> NetworkSpec:
    """The spec of `network`; KeyError for a network with no folder."""
    return specs()[network]


def publishable() -> frozenset[Network]:
    return frozenset(specs())


def app_for(spec: NetworkSpec, configured: NetworkApp | None) -> AppCredentials | None:
    """Chorus's app on `spec`'s network: settings first, the network's public addresses where
    settings leave them empty. None where no app is configured (Mastodon registers one per
    instance; Bluesky needs none)."""
    if configured is None or not configured.client_id:
        return None
    return AppCredentials(
        client_id=configured.client_id,
        client_secret=configured.client_secret.get_secret_value(),
        api_url=configured.api_url or spec.api_url,
        auth_url=configured.auth_url or spec.auth_url,
        version=configured.version or spec.version,
        refresh_allowed=configured.refresh_allowed,
    )
