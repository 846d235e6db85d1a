"""How a campaign becomes a Mastodon status, and whether the status fits.

Mastodon's StatusLengthValidator counts grapheme clusters of the text after replacing every
URL (found with twitter-text's extractor, scheme required) by 23 characters and every remote
mention `@user@domain` by `@user`. The limit is the instance's `max_characters` (500 on
mastodon.social and by default).
"""

from __future__ import annotations

from chorus.networks.base import Content, RenderedPost
from chorus.networks.graphemes import grapheme_count
from chorus.networks.richtext import LINK, MENTION

__all__ = ["MAX_CHARACTERS", "URL_WEIGHT", "problems", "render", "status_length"]

MAX_CHARACTERS = 500
URL_WEIGHT = 23


def render(content: Content) -> RenderedPost:
    # Mastodon links the URL and fetches its preview card itself.
    return RenderedPost(
        text=f"{content.message.strip()}\n\n{content.url}", link=content.url, images=content.images
    )


def status_length(text: str) -> int:
    countable = LINK.sub("x" * URL_WEIGHT, text)
    countable = MENTION.sub(lambda m: f"@{m.group(1)}", countable)
    return grapheme_count(countable)


def problems(content: Content, *, max_characters: int = MAX_CHARACTERS) -> list[str]:
    length = status_length(render(content).text)
    if length <= max_characters:
        return []
    return [
        f"mastodon: the post is {length} characters (links count as {URL_WEIGHT}); "
        f"the limit is {max_characters}"
    ]
