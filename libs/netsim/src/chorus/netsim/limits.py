"""The knobs a test turns per network (`/_sim/limits`): caps small enough to exhaust in a test,
the instance and version settings that differ between real deployments."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Limits"]


def _linkedin_versions() -> list[str]:
    # Versions live about a year; 202511 (the version networks.md pins) through 202611.
    months = [f"2025{m:02d}" for m in (11, 12)] + [f"2026{m:02d}" for m in range(1, 12)]
    return months


@dataclass
class Limits:
    mastodon_max_characters: int = 500
    # Seconds of the simulator's clock a Mastodon upload stays "processing" (206, url null).
    mastodon_media_processing_seconds: float = 0.0
    # X: POST /2/tweets per user per 15 minutes, and the two 24-hour caps; the app's cap is
    # shared by every account of the (single, simulated) app.
    x_tweets_per_15min: int = 100
    x_user_24h: int = 100
    x_app_24h: int = 10_000
    linkedin_member_daily: int = 150
    linkedin_versions: list[str] = field(default_factory=_linkedin_versions)
    # Graph calls per page token per rolling hour before the Pages throttle (code 32).
    facebook_calls_per_hour: int = 4800
    facebook_throttle_code: int = 32
