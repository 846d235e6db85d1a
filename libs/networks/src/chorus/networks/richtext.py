"""Finding links and mentions in post text the way the networks do (twitter-text's rules,
which Mastodon and X both use): a URL needs its scheme, ends where URL characters end (so
Japanese written right after it is text, not URL), and never ends on punctuation."""

from __future__ import annotations

import re

__all__ = ["LINK", "MENTION", "link_spans"]

# twitter-text: valid_url_path_chars / valid_url_path_ending_chars, Latin accents and Cyrillic
# included, CJK and other scripts not (they end the URL).
_ACCENTS = "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257"
_ACCENTS += "\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
_CYRILLIC = "\u0400-\u04ff"
_PATH = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~|&@{_ACCENTS}]"
_PATH_END = rf"[a-z{_CYRILLIC}0-9=_#/+\-{_ACCENTS}]"
_PARENS = rf"\((?:{_PATH}+|(?:{_PATH}*\({_PATH}+\){_PATH}*))\)"
_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9\-_]*[a-z0-9])?\.)+[a-z][a-z0-9\-]*[a-z0-9]|localhost"
_HOST = rf"(?:{_DOMAIN}|\d{{1,3}}(?:\.\d{{1,3}}){{3}}|\[[0-9a-f:.]+\])"
_QUERY = r"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@]"
_QUERY_END = r"[a-z0-9\-_&=#/]"

LINK = re.compile(
    rf"https?://{_HOST}(?::\d{{1,5}})?"
    rf"(?:/(?:(?:{_PATH}|{_PARENS})*(?:{_PATH_END}|{_PARENS}))?|/)?"
    rf"(?:\?{_QUERY}*{_QUERY_END})?",
    re.IGNORECASE,
)
# @user or @user@domain, not inside a word or an e-mail address.
MENTION = re.compile(
    r"(?<![\w@])@([a-z0-9_]+(?:[a-z0-9_.\-]+[a-z0-9_]+)?)(?:@((?:[\w\-]+\.)+[\w\-]+))?",
    re.IGNORECASE,
)


def link_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every URL in `text`, in code points."""
    return [m.span() for m in LINK.finditer(text)]
