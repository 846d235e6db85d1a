"""The page's forms: read from an urlencoded body, guarded by a double-submit CSRF token.

The link token is the colleague's credential, so a form is accepted only with the CSRF value
that the page set in a `SameSite=Strict` cookie when it was shown: another site can neither
read that cookie (to put it in a forged form) nor make the browser send it with a cross-site
POST."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from fastapi import Request, Response

__all__ = ["COOKIE", "csrf_for", "read_form", "set_csrf", "valid_csrf"]

COOKIE = "chorus_page_csrf"


def csrf_for(request: Request) -> str:
    """The visitor's CSRF value: theirs if they have one, a new one otherwise."""
    held = request.cookies.get(COOKIE, "")
    return held if 20 <= len(held) <= 100 and held.isascii() else secrets.token_urlsafe(32)


def set_csrf(response: Response, value: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/page"
    )


async def read_form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        raw = (await request.body()).decode()
    except UnicodeDecodeError:
        return {}
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def valid_csrf(request: Request, form: dict[str, str]) -> bool:
    held = request.cookies.get(COOKIE, "")
    sent = form.get("csrf", "")
    return bool(held) and secrets.compare_digest(held.encode(), sent.encode())
