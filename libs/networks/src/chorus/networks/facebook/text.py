"""How a campaign becomes a Facebook Page post: the message, and the link as the `link`
parameter (Facebook scrapes the page's Open Graph tags for the preview)."""

from __future__ import annotations

from chorus.networks.base import Content, RenderedPost

__all__ = ["MAX_CHARACTERS", "problems", "render"]

MAX_CHARACTERS = 63206


def render(content: Content) -> RenderedPost:
    return RenderedPost(text=content.message.strip(), link=content.url, images=content.images)


def problems(content: Content) -> list[str]:
    length = len(render(content).text)
    if length <= MAX_CHARACTERS:
        return []
    return [f"facebook: the post is {length} characters; the limit is {MAX_CHARACTERS}"]
