"""How a campaign becomes a Facebook Page post: the message, and the link as the `link`
parameter (Facebook scrapes the page's Open Graph tags for the preview)."""

from __future__ import annotations

from urllib.parse import quote

from chorus.networks.base import Content, Measure, RenderedPost

__all__ = ["MAX_CHARACTERS", "manual_link", "measure", "problems", "render"]

MAX_CHARACTERS = 63206


def render(content: Content) -> RenderedPost:
    return RenderedPost(text=content.message.strip(), link=content.url, images=content.images)


def manual_link(kind: str, content: Content) -> str | None:
    """A personal profile cannot be posted to by any app (since 2018): the colleague gets
    Facebook's share dialog for the link, with no text filled in, as Facebook's policy asks."""
    if kind != "profile":
        return None
    return f"https://www.facebook.com/sharer/sharer.php?u={quote(content.url, safe='')}"


def measure(post: RenderedPost) -> tuple[Measure, ...]:
    length = len(post.text)
    sentence = f"facebook: the post is {length} characters; the limit is {MAX_CHARACTERS}"
    return (Measure("characters", length, MAX_CHARACTERS, sentence),)


def problems(content: Content) -> list[str]:
    return [m.sentence for m in measure(render(content)) if not m.fits]
