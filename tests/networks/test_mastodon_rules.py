"""Mastodon's rules: how a status is counted, and how our post is recognised on a timeline
whatever Mastodon's rendering did to it (HTML as Mastodon's TextFormatter writes it)."""

from __future__ import annotations

import pytest

from chorus.networks import Content, RenderedPost
from chorus.networks.mastodon.matching import same_post
from chorus.networks.mastodon.text import problems, render, status_length

LINK = "https://example.com/launch"


def test_post_text_carries_message_and_link() -> None:
    post = render(Content(message="  We shipped! ", url="https://e.com/x"))
    assert post.text == "We shipped!\n\nhttps://e.com/x" and post.link == "https://e.com/x"


def test_every_url_counts_as_23() -> None:
    long_url = "https://example.com/" + "a" * 400
    # 470 characters of message + 2 newlines + a URL counted as 23 = 495: fits.
    assert problems(Content(message="m" * 470, url=long_url)) == []
    found = problems(Content(message="m" * 480, url=long_url))
    assert found and "505 characters" in found[0]


@pytest.mark.parametrize(
    ("text", "length"),
    [
        # Text written right after a URL with no space (common in Japanese) is text, not URL.
        ("詳しくはhttps://example.com/launchをご覧ください", 4 + 23 + 7),
        ("https://example.com/launchです", 23 + 2),
        # Trailing punctuation is not part of the URL.
        ("See https://example.com/a.", 4 + 23 + 1),
        # A remote mention counts as its local part.
        ("hi @bob@other.example.social", 3 + 4),
        # Graphemes: a family, a flag, a combining accent are one character each.
        ("👨‍👩‍👧‍👦🇫🇷e\u0301", 3),
    ],
)
def test_length_counts_as_mastodon_does(text: str, length: int) -> None:
    assert status_length(text) == length


def test_japanese_right_after_a_url_is_refused_when_it_does_not_fit() -> None:
    # Swallowed into the URL, the text after it would count nothing (488: fits); counted as
    # Mastodon counts it, 440 + 23 + 30 + 2 + 23 = 518 does not.
    content = Content(message="あ" * 440 + "https://example.com/x" + "い" * 30, url=LINK)
    assert status_length(render(content).text) == 518
    assert problems(content) != []


OURS = RenderedPost(
    text="Thanks @bob@other.host for #launch 🎉 & <more>\nsee you\n\nhttps://example.com/launch",
    link=LINK,
)
RENDERED = (
    '<p>Thanks <span class="h-card" translate="no"><a href="https://other.host/@bob" '
    'class="u-url mention">@<span>bob</span></a></span> for '
    '<a href="https://mastodon.example/tags/launch" class="mention hashtag" rel="tag">'
    "#<span>launch</span></a> 🎉 &amp; &lt;more&gt;<br />see you</p>"
    '<p><a href="https://example.com/launch" target="_blank" rel="nofollow noopener" '
    'translate="no"><span class="invisible">https://</span><span class="">example.com/launch'
    '</span><span class="invisible"></span></a></p>'
)


def test_a_status_with_a_remote_mention_hashtag_and_emoji_is_recognised() -> None:
    assert same_post(RENDERED, OURS)


def test_another_link_or_other_words_are_not_our_post() -> None:
    assert not same_post(RENDERED.replace("example.com/launch", "example.com/other"), OURS)
    assert not same_post(RENDERED.replace("see you", "bye"), OURS)
