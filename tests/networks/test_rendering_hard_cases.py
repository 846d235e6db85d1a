"""Each network's counting on the hard cases: URLs near the limit, emoji sequences, flags and
combining characters (graphemes vs code points vs UTF-8 bytes vs X's weights), and text written
right after a URL with no space (Japanese, Chinese)."""

from __future__ import annotations

from chorus.networks import Content
from chorus.networks.bluesky import SPEC as BLUESKY
from chorus.networks.bluesky.text import facets
from chorus.networks.linkedin import SPEC as LINKEDIN
from chorus.networks.mastodon import SPEC as MASTODON
from chorus.networks.mastodon.text import status_length
from chorus.networks.x import SPEC as X
from chorus.networks.x.text import weighted_length

URL = "https://example.com/" + "long-path/" * 12  # 140 characters; every network counts 23
FLAG = "\U0001f1ef\U0001f1f5"  # 🇯🇵: two code points, one grapheme, 8 UTF-8 bytes
FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points
COMBINING = "e\u0301"  # é as two code points


def test_x_urls_near_the_limit_weigh_23() -> None:
    # "\n\n" + the URL weigh 25: a 255-character message is exactly 280.
    assert X.problems(Content(message="a" * 255, url=URL)) == []
    assert X.problems(Content(message="a" * 256, url=URL))


def test_x_weighs_emoji_flags_and_combining_characters() -> None:
    assert weighted_length(FLAG) == 2 and weighted_length(FAMILY) == 2
    assert weighted_length(COMBINING) == 1  # NFC makes it one Latin letter
    assert weighted_length("日本語のテキスト") == 16
    assert weighted_length(f"{URL}これは") == 23 + 6  # the URL ends where Japanese starts


def test_mastodon_counts_graphemes_and_urls_as_23() -> None:
    assert status_length(FLAG + FAMILY + COMBINING) == 3
    assert status_length(f"{URL}これは") == 23 + 3
    assert status_length("@alice@remote.example hi") == len("@alice hi")
    fits = Content(message=FLAG * 475, url=URL)  # 475 + 2 + 23 = 500 graphemes
    assert MASTODON.problems(fits) == []
    assert MASTODON.problems(Content(message=FLAG * 476, url=URL))


def test_bluesky_limits_graphemes_and_bytes_and_offsets_bytes() -> None:
    # 300 graphemes (the URL counts in full: Bluesky has no shortening) and 3,000 bytes.
    room = 300 - 2 - len(URL)
    assert BLUESKY.problems(Content(message=FLAG * room, url=URL)) == []
    assert BLUESKY.problems(Content(message=FLAG * (room + 1), url=URL))
    heavy = Content(message=FAMILY * room, url=URL)  # few graphemes, 25 bytes each
    [problem] = BLUESKY.problems(heavy)
    assert "bytes" in problem
    text = f"{FLAG}{COMBINING} {URL}これは"
    [facet] = facets(text)
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert start == len(f"{FLAG}{COMBINING} ".encode())
    assert text.encode()[start:end].decode() == URL


def test_linkedin_counts_characters_before_escaping() -> None:
    reserved = "(#)" * 1000  # 3,000 characters, 6,000 once escaped
    assert LINKEDIN.problems(Content(message=reserved, url=URL)) == []
    assert LINKEDIN.problems(Content(message=reserved + "!", url=URL))
