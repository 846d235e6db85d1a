"""X's weighted length (twitter-text v3): most Latin and punctuation weigh 1, everything else
(CJK, emoji) 2, every URL 23, after NFC normalization. Emoji sequences are counted per code
point here, which over-counts ZWJ sequences; the simulator errs toward rejecting."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_WEIGHT", "weighted_length"]

MAX_WEIGHT = 280
URL_WEIGHT = 23
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)


def _weight(char: str) -> int:
    point = ord(char)
    return 1 if any(lo <= point <= hi for lo, hi in _LIGHT) else 2


def weighted_length(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    urls = _URL.findall(text)
    rest = _URL.sub("", text)
    return URL_WEIGHT * len(urls) + sum(_weight(c) for c in rest)
