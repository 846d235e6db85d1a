"""How a campaign becomes a post on X, and whether it fits in 280 weighted characters.

X's counting (twitter-text v3, `config/v3.json`): text NFC-normalised; every URL weighs 23
(t.co); an emoji weighs 2 however many code points it joins; other characters weigh 1 in the
ranges below (Latin, and the general punctuation X lists) and 2 elsewhere (CJK, most scripts).
We implement it over the `emoji` library's sequence data instead of the `twitter-text-parser`
package, whose emoji module imports `pkg_resources` (gone from current setuptools).
"""

from __future__ import annotations

import unicodedata

import emoji

from chorus.networks.base import Content, Measure, RenderedPost
from chorus.networks.richtext import LINK

__all__ = ["MAX_WEIGHT", "URL_WEIGHT", "measure", "problems", "render", "weighted_length"]

MAX_WEIGHT = 280
URL_WEIGHT = 23
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def _weight(char: str) -> int:
    point = ord(char)
    return 1 if any(start <= point <= end for start, end in _LIGHT) else 2


def weighted_length(text: str) -> int:
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    spans = [(m.start(), m.end(), URL_WEIGHT) for m in LINK.finditer(text)]
    spans += [(e["match_start"], e["match_end"], 2) for e in emoji.emoji_list(text)]
    for start, end, weight in sorted(spans):
        if start < position:
            continue  # an emoji inside a URL is part of the URL
        total += sum(_weight(c) for c in text[position:start]) + weight
        position = end
    return total + sum(_weight(c) for c in text[position:])


def render(content: Content) -> RenderedPost:
    # X wraps the URL in t.co and builds the card from the page's own tags.
    return RenderedPost(
        text=f"{content.message.strip()}\n\n{content.url}",
        link=content.url,
        images=content.images,
    )


def measure(post: RenderedPost) -> tuple[Measure, ...]:
    length = weighted_length(post.text)
    sentence = (
        f"x: the post weighs {length} (links count as {URL_WEIGHT}, CJK characters and emoji "
        f"as 2); the limit is {MAX_WEIGHT}"
    )
    return (Measure("weighted characters", length, MAX_WEIGHT, sentence),)


def problems(content: Content) -> list[str]:
    return [m.sentence for m in measure(render(content)) if not m.fits]
