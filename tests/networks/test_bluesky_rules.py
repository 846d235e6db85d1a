"""Bluesky's rendering: link facets in UTF-8 bytes, a card we build, 300 graphemes, and record
keys in TID form that every attempt at a share repeats."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from chorus.networks import Content
from chorus.networks.bluesky import SPEC
from chorus.networks.bluesky.text import facets
from chorus.networks.bluesky.tid import record_key, tid

LINK = "https://example.com/launch"


def test_link_facets_count_utf8_bytes() -> None:
    text = f"Café ☕ 日本 {LINK} done"
    [facet] = facets(text)
    start = facet["index"]["byteStart"]
    assert start == len("Café ☕ 日本 ".encode()) and start != text.index(LINK)
    raw = text.encode()
    assert raw[start : facet["index"]["byteEnd"]].decode() == LINK
    assert facet["features"][0]["uri"] == LINK


def test_the_card_and_the_limit() -> None:
    post = SPEC.render(Content(message="Hi", url=LINK, title="Launch", description="News"))
    assert post.card is not None and (post.card.title, post.card.description) == ("Launch", "News")
    # Graphemes, not code points: an accented letter written as two code points counts once.
    assert SPEC.problems(Content(message="e\u0301" * 270, url=LINK)) == []
    [problem] = SPEC.problems(Content(message="a" * 290, url=LINK))
    assert "300" in problem


def test_record_keys_are_tids_fixed_per_share() -> None:
    assert tid(0, 0) == "2222222222222"
    created = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    share = uuid.uuid4()
    key = record_key(created, share)
    assert re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", key)
    assert record_key(created, share) == key  # every attempt writes the same record
    assert record_key(created, uuid.uuid4()) != key or share.int % 1024 == 0
    later = record_key(datetime(2026, 11, 28, tzinfo=UTC), share)
    assert later > key  # sortable: later campaigns sort after
