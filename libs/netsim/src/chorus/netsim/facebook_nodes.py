"""Graph nodes as JSON: a post with its counters, a page with its audience. Like Graph, only
the requested fields (and `id`) come back, and `shares` is left out while nobody has shared."""

from __future__ import annotations

from typing import Any

from chorus.netsim.facebook_answers import graph_time
from chorus.netsim.state import Post, SimAccount

__all__ = ["account_json", "post_json"]


def account_json(account: SimAccount, fields: set[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": account.id}
    if "name" in fields:
        answer["name"] = account.username
    if account.kind == "page":
        for name in ("followers_count", "fan_count"):
            if name in fields:
                answer[name] = account.followers
    return answer


def post_json(post: Post, fields: set[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": f"{post.account_id}_{post.id}"}
    if "message" in fields and post.text:
        answer["message"] = post.text
    if "created_time" in fields:
        answer["created_time"] = graph_time(post.created_at)
    # The Post node's `link`: the URL attached with the post, where there is one.
    link = (post.content or {}).get("link")
    if "link" in fields and isinstance(link, str):
        answer["link"] = link
    if "permalink_url" in fields:
        answer["permalink_url"] = f"https://www.facebook.com/{post.account_id}/posts/{post.id}"
    if "shares" in fields and post.reshares:
        answer["shares"] = {"count": post.reshares}
    if "reactions" in fields:
        answer["reactions"] = {
            "data": [],
            "summary": {"total_count": post.likes, "viewer_reaction": "NONE"},
        }
    if "comments" in fields:
        answer["comments"] = {
            "data": [],
            "summary": {"order": "ranked", "total_count": post.replies, "can_comment": True},
        }
    return answer
