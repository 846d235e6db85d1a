"""Counting user-perceived characters (extended grapheme clusters, Unicode UAX #29), as
Mastodon (Ruby's each_grapheme_cluster) and Bluesky (Intl.Segmenter) count them: a flag, a
family emoji or a letter with combining accents is one."""

from __future__ import annotations

import regex

__all__ = ["grapheme_count"]

_GRAPHEME = regex.compile(r"\X")


def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))
