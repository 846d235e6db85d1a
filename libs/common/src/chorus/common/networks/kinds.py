from __future__ import annotations

import enum

__all__ = ["PUBLISHABLE", "Network"]


class Network(enum.StrEnum):
    LINKEDIN = "linkedin"
    X = "x"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    FACEBOOK = "facebook"


# Networks with a publisher today. The API refuses campaigns for the others rather than
# accepting shares that nothing would ever post.
PUBLISHABLE: frozenset[Network] = frozenset({Network.MASTODON})
