"""make bench-staging: a campaign of a million shares staged into a real PostgreSQL."""
