"""Recognising our post on an account's timeline, whatever Mastodon's rendering did to it.

A status's `content` is HTML: paragraphs and line breaks become markup, links keep their full
address in `href` but show it shortened, `@bob@host` shows as `@bob`, hashtags are links. So a
status is ours when it links to the share's link and its words, links aside and mentions
reduced to their user, are the words we sent.
"""

from __future__ import annotations

import html
import re
import unicodedata

from chorus.networks.base import RenderedPost
from chorus.networks.richtext import LINK, MENTION

__all__ = ["same_post"]

_ANCHOR = re.compile(r"<a\b([^>]*)>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_HREF = re.compile(r"""\bhref\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_CLASS = re.compile(r"""\bclass\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def _words(text: str) -> list[str]:
    return unicodedata.normalize("NFC", text).split()


def _ours(post: RenderedPost) -> list[str]:
    text = LINK.sub(" ", post.text)
    return _words(MENTION.sub(lambda m: f"@{m.group(1)}", text))


def _theirs(content: str) -> tuple[list[str], set[str]]:
    """(visible words without links, every linked address) of a status's HTML."""
    hrefs: set[str] = set()

    def anchor(match: re.Match[str]) -> str:
        attributes, inner = match.group(1), match.group(2)
        href = _HREF.search(attributes)
        if href:
            hrefs.add(html.unescape(href.group(1)))
        classes = _CLASS.search(attributes)
        if classes and {"mention", "hashtag"} & set(classes.group(1).split()):
            return _TAG.sub("", inner)  # "@bob", "#tag": words of the post
        return " "  # a link: compared by its address, not its shortened text

    text = _ANCHOR.sub(anchor, content)
    text = html.unescape(_TAG.sub("", _BREAK.sub("\n", text)))
    return _words(text), hrefs


def same_post(content: str, post: RenderedPost) -> bool:
    words, hrefs = _theirs(content)
    return post.link in hrefs and words == _ours(post)
