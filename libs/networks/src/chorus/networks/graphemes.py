"""Counting user-perceived characters (extended grapheme clusters, Unicode UAX #29), as
Mastodon (Ruby's each_grapheme_cluster) and Bluesky (Intl.Segmenter) count them: a flag, a
family emoji or a letter with combining accents is one."""

from __future__ import annotations

from functools import lru_cache

import regex

__all__ = ["grapheme_count"]

_GRAPHEME = regex.compile(r"\X")


# A campaign's shares are measured one by one, most with the same countable text (Mastodon
# counts every link as 23): counted once, not once per share. Posts are short (Facebook's
# 63,206 at most), so the cache stays within a few megabytes.
@lru_cache(maxsize=128)
def grapheme_count(text: str) -> int:
    return len(_GRAPHEME.findall(text))
