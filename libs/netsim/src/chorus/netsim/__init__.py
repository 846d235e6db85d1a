"""The network simulator: Mastodon, X, LinkedIn and Facebook Pages as their documented contracts
over HTTP (with consent pages and token exchanges), for development, tests
and benchmarks. Records every post so a test can count duplicates."""

from chorus.netsim.app import create_app
from chorus.netsim.state import SimState

__all__ = ["SimState", "create_app"]
