"""Recognising our post on an account's timeline when the network gave us no answer, for the
networks that render plain text (X, LinkedIn, Facebook, Bluesky): the post links to the share's
link and its words, links aside, are the words we sent."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from chorus.networks.base import RenderedPost
from chorus.networks.richtext import LINK

__all__ = ["same_text"]


def _words(text: str) -> list[str]:
    return unicodedata.normalize("NFC", LINK.sub(" ", text)).split()


def same_text(text: str, links: Iterable[str], post: RenderedPost) -> bool:
    """`text` as the network shows it (links possibly shortened: their full addresses in
    `links`) is `post`."""
    return post.link in set(links) and _words(text) == _words(post.text)
