"""Fan-out benchmark: `make bench-fanout` (ARGS="--shares 10000")."""
