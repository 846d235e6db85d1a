"""How a campaign becomes each network's post text, and whether it fits that network's limits.

Validation runs when the campaign is created, with the same rendering the publisher uses, so
a too-long post is refused at the API and never fails hours later.
"""

from __future__ import annotations

import re

from chorus.common.networks.kinds import Network

__all__ = ["render_post", "text_problems"]

_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)

# Mastodon: the instance's max_characters (500 on most), every URL counting as 23.
MASTODON_MAX_CHARACTERS = 500
MASTODON_URL_WEIGHT = 23


def render_post(*, network: Network, message: str, url: str) -> str:
    """The text posted to `network` for a campaign's message and link."""
    # Every network supported so far takes the link inline and builds its own preview card.
    return f"{message.strip()}\n\n{url}"


def _mastodon_length(text: str) -> int:
    # Code points, not graphemes: never fewer than Mastodon's grapheme count, so a text that
    # passes here is never refused there.
    return len(_URL.sub("x" * MASTODON_URL_WEIGHT, text))


def text_problems(*, network: Network, message: str, url: str) -> list[str]:
    """Human-readable reasons why the rendered post would be refused by `network`; [] if none."""
    text = render_post(network=network, message=message, url=url)
    if network is Network.MASTODON:
        length = _mastodon_length(text)
        if length > MASTODON_MAX_CHARACTERS:
            return [
                f"mastodon: the post is {length} characters (links count as "
                f"{MASTODON_URL_WEIGHT}); the limit is {MASTODON_MAX_CHARACTERS}"
            ]
    return []
