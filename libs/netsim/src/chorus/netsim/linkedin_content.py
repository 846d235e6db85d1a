"""What LinkedIn checks in a post body before it accepts it: the author is the token's member,
the required fields are there, commentary fits, and images were uploaded by the author."""

from __future__ import annotations

from typing import Any

from chorus.netsim.state import SimAccount, SimState

__all__ = ["MAX_COMMENTARY", "problem"]

MAX_COMMENTARY = 3000
_REQUIRED = ("author", "commentary", "visibility", "distribution", "lifecycleState")


def problem(state: SimState, account: SimAccount, body: dict[str, Any]) -> tuple[int, str] | None:
    """(status, message) for a body LinkedIn would refuse, else None."""
    for name in _REQUIRED:
        if name not in body:
            return 422, f"/{name} :: field is required but not found and has no default value"
    if body["author"] != f"urn:li:person:{account.id}":
        return 403, "Not enough permissions to access: partnerApiPostsExternal.CREATE"
    commentary = body["commentary"]
    if not isinstance(commentary, str):
        return 422, "/commentary :: expected a string"
    if len(commentary) > MAX_COMMENTARY:
        return 422, (
            f"/commentary :: length of text is {len(commentary)}, "
            f"greater than the maximum allowed {MAX_COMMENTARY}"
        )
    content = body.get("content")
    if content is None:
        return None
    if not isinstance(content, dict) or len(content) != 1:
        return 422, "/content :: exactly one of article, media, multiImage is required"
    return _content_problem(state, account, content)


def _content_problem(
    state: SimState, account: SimAccount, content: dict[str, Any]
) -> tuple[int, str] | None:
    if "article" in content:
        article = content["article"]
        if not isinstance(article, dict) or not isinstance(article.get("source"), str):
            return 422, "/content/article/source :: field is required but not found"
        return None
    if "media" in content:
        media = content["media"]
        urns = [media.get("id")] if isinstance(media, dict) else [None]
    elif "multiImage" in content:
        images = (
            content["multiImage"].get("images") if isinstance(content["multiImage"], dict) else None
        )
        if not isinstance(images, list) or not 2 <= len(images) <= 20:
            return 422, "/content/multiImage/images :: between 2 and 20 images are required"
        urns = [i.get("id") if isinstance(i, dict) else None for i in images]
    else:
        return 422, f"/content/{next(iter(content))} :: unrecognized field"
    for urn in urns:
        if not isinstance(urn, str) or not urn.startswith("urn:li:image:"):
            return 422, f"/content :: {urn!r} is not an image urn"
        image = state.media.get(urn.rsplit(":", 1)[-1])
        if image is None or image.network != "linkedin" or image.account_id != account.id:
            return 422, f"/content :: {urn} does not exist"
        if not image.uploaded:
            return 422, f"/content :: {urn} is not AVAILABLE (WAITING_UPLOAD)"
    return None
