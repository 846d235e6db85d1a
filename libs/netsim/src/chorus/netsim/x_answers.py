"""X API v2's answer shapes: problem+json errors, `data`/`errors`/`meta` bodies, and the
x-rate-limit-* headers (reset in unix epoch seconds) on every answer."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from chorus.netsim.state import Post, SimAccount

__all__ = ["INVALID", "NOT_FOUND", "problem", "too_many", "tweet_json", "user_json"]

INVALID = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
_TITLES = {
    400: "Invalid Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    title = _TITLES.get(status, "Error")
    body: dict[str, Any] = {
        "title": title,
        "detail": detail or title,
        "type": INVALID if status == 400 else "about:blank",
        "status": status,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def too_many(headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [{"code": 88, "message": "Rate limit exceeded"}],
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        },
        status_code=429,
        headers=headers,
    )


def tweet_json(post: Post, fields: set[str]) -> dict[str, Any]:
    tweet: dict[str, Any] = {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}
    if "public_metrics" in fields:
        tweet["public_metrics"] = {
            "retweet_count": post.reshares,
            "reply_count": post.replies,
            "like_count": post.likes,
            "quote_count": post.quotes,
            "bookmark_count": 0,
            "impression_count": post.impressions,
        }
    if "created_at" in fields:
        tweet["created_at"] = post.created_at.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )
    if "author_id" in fields:
        tweet["author_id"] = post.account_id
    if "attachments" in fields and post.media_ids:
        tweet["attachments"] = {"media_keys": [f"3_{m}" for m in post.media_ids]}
    return tweet


def user_json(account: SimAccount, fields: set[str], tweets: int) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": account.id,
        "name": account.username,
        "username": account.username,
    }
    if "public_metrics" in fields:
        user["public_metrics"] = {
            "followers_count": account.followers,
            "following_count": 0,
            "tweet_count": tweets,
            "listed_count": 0,
        }
    return user
