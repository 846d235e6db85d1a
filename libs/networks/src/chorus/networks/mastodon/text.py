"""How a campaign becomes a Mastodon status, and whether the status fits.

Mastodon's StatusLengthValidator counts grapheme clusters of the text after replacing every
URL (found with twitter-text's extractor, scheme required) by 23 characters and every remote
mention `@user@domain` by `@user`. The limit is the instance's `max_characters` (500 on
mastodon.social and by default).
"""

from __future__ import annotations

from chorus.networks.base import Content, Measure, RenderedPost
from chorus.networks.graphemes import grapheme_count
from chorus.networks.richtext import LINK, MENTION

__all__ = ["MAX_CHARACTERS", "URL_WEIGHT", "measure", "problems", "render", "status_length"]

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


# Before a colleague's account is known, so is not their instance's own limit.
DEFAULT_LIMIT_NOTE = (
    f"{MAX_CHARACTERS} is Mastodon's default: each colleague's instance says its own limit "
    "(/api/v2/instance) only when it is posted to, so a campaign is held to the lowest one known"
)


def measure(post: RenderedPost, *, max_characters: int | None = None) -> tuple[Measure, ...]:
    """Against `max_characters` where the instance is known; else the default, noted."""
    limit = MAX_CHARACTERS if max_characters is None else max_characters
    length = status_length(post.text)
    sentence = (
        f"mastodon: the post is {length} characters (links count as {URL_WEIGHT}); "
        f"the limit is {limit}"
    )
    note = DEFAULT_LIMIT_NOTE if max_characters is None else ""
    return (Measure("characters", length, limit, sentence, note),)


def problems(content: Content, *, max_characters: int | None = None) -> list[str]:
    return [
        m.sentence for m in measure(render(content), max_characters=max_characters) if not m.fits
    ]
