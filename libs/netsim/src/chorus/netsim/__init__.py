"""The network simulator: the networks' documented contracts over HTTP, for development, tests
and benchmarks. Records every post so a test can count duplicates."""

from chorus.netsim.app import create_app
from chorus.netsim.state import SimState

__all__ = ["SimState", "create_app"]
