"""Spreading benchmark: `python -m bench.spreading` (--shares 1000000)."""
