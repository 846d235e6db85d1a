"""Who is not a person: crawlers, link-preview fetchers (facebookexternalhit, Twitterbot,
LinkedInBot, Slackbot, Mastodon servers...) and anything without a user agent. Their requests
follow a tracked link like anyone's but are not counted as clicks.

CrawlerDetect's list (kept up to date upstream) does the work; `_MISSED` adds the preview
fetchers it does not know yet.
"""

from __future__ import annotations

import re

from crawlerdetect import CrawlerDetect

__all__ = ["is_bot"]

# Bluesky's card fetcher, and generic preview and HTTP-library agents.
_MISSED = re.compile(r"cardyb|bluesky|embedly|iframely|preview|okhttp|go-http-client", re.I)
_DETECT = CrawlerDetect()


def is_bot(user_agent: str | None) -> bool:
    agent = (user_agent or "").strip()
    if not agent:
        return True
    return bool(_MISSED.search(agent)) or bool(_DETECT.is_crawler(agent))
