"""How a campaign becomes a LinkedIn post (Posts API), and whether it fits.

`commentary` is in LinkedIn's "little text" format: `| { } @ [ ] ( ) < > # \\ * _ ~` are markup
(mentions, hashtags, templates) and a post holding them unescaped is refused or mangled, so
every one is backslash-escaped. The link goes in an article card that we build (LinkedIn does
not scrape it for the API), not in the text: escaping a URL's `_` or `#` would break it.
"""

from __future__ import annotations

import re

from chorus.networks.base import Content, LinkCard, Measure, RenderedPost

__all__ = ["MAX_CHARACTERS", "escape_little_text", "measure", "problems", "render"]

MAX_CHARACTERS = 3000
_RESERVED = re.compile(r"([|{}@\[\]()<>#\\*_~])")


def escape_little_text(text: str) -> str:
    return _RESERVED.sub(r"\\\1", text)


def render(content: Content) -> RenderedPost:
    return RenderedPost(
        text=content.message.strip(),
        link=content.url,
        card=LinkCard(url=content.url, title=content.title, description=content.description),
        images=content.images,
    )


def measure(post: RenderedPost) -> tuple[Measure, ...]:
    # LinkedIn counts what the reader sees: the text before escaping.
    length = len(post.text)
    sentence = f"linkedin: the post is {length} characters; the limit is {MAX_CHARACTERS}"
    return (Measure("characters", length, MAX_CHARACTERS, sentence),)


def problems(content: Content) -> list[str]:
    return [m.sentence for m in measure(render(content)) if not m.fits]
