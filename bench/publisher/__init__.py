"""Publisher benchmark: `make bench-publisher` (ARGS="--shares 4000 --latency-ms 200")."""
