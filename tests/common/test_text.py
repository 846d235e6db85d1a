from chorus.common.networks import Network, render_post, text_problems


def test_post_text_carries_message_and_link() -> None:
    text = render_post(network=Network.MASTODON, message="  We shipped! ", url="https://e.com/x")
    assert text == "We shipped!\n\nhttps://e.com/x"


def test_mastodon_counts_every_url_as_23() -> None:
    long_url = "https://example.com/" + "a" * 400
    # 470 characters of message + 2 newlines + a URL counted as 23 = 495: fits.
    assert text_problems(network=Network.MASTODON, message="m" * 470, url=long_url) == []
    problems = text_problems(network=Network.MASTODON, message="m" * 480, url=long_url)
    assert problems and "505 characters" in problems[0]
