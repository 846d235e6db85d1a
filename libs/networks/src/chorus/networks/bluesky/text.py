"""How a campaign becomes a Bluesky post: 300 graphemes (and 3,000 bytes), links that are not
detected by the network but declared as facets with UTF-8 byte offsets, and an external embed
(the link card) built by us, since Bluesky fetches no preview itself."""

from __future__ import annotations

from typing import Any

from chorus.networks.base import Content, LinkCard, Measure, RenderedPost
from chorus.networks.graphemes import grapheme_count
from chorus.networks.richtext import LINK

__all__ = ["MAX_BYTES", "MAX_GRAPHEMES", "facets", "measure", "problems", "render"]

MAX_GRAPHEMES = 300
MAX_BYTES = 3000


def render(content: Content) -> RenderedPost:
    return RenderedPost(
        text=f"{content.message.strip()}\n\n{content.url}",
        link=content.url,
        card=LinkCard(
            url=content.url, title=content.title or content.url, description=content.description
        ),
        images=content.images,
    )


def facets(text: str) -> list[dict[str, Any]]:
    """A link facet for every URL, its span in UTF-8 bytes (not code points)."""
    found = []
    for match in LINK.finditer(text):
        start = len(text[: match.start()].encode("utf-8"))
        end = start + len(match.group(0).encode("utf-8"))
        found.append(
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group(0)}],
            }
        )
    return found


def measure(post: RenderedPost) -> tuple[Measure, ...]:
    length = grapheme_count(post.text)
    size = len(post.text.encode("utf-8"))
    return (
        Measure(
            "graphemes",
            length,
            MAX_GRAPHEMES,
            f"bluesky: the post is {length} characters; the limit is {MAX_GRAPHEMES}",
        ),
        Measure(
            "bytes", size, MAX_BYTES, f"bluesky: the post is {size} bytes; the limit is {MAX_BYTES}"
        ),
    )


def problems(content: Content) -> list[str]:
    return [m.sentence for m in measure(render(content)) if not m.fits]
