"""LinkedIn's answer shapes: `{"status", "serviceErrorCode", "code", "message"}` errors, Rest.li
version checks, and post elements as the Posts API returns them."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from chorus.netsim.state import Post, TokenProblem

__all__ = ["error", "post_json", "token_error"]

_TOKEN = {
    "invalid": (65600, "INVALID_ACCESS_TOKEN", "Invalid access token"),
    "expired": (65601, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired"),
    "revoked": (
        65602,
        "REVOKED_ACCESS_TOKEN",
        "The token used in the request has been revoked by the user",
    ),
}


def error(
    status: int, message: str, *, code: str | None = None, service: int = 100
) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "serviceErrorCode": service, "message": message}
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status)


def token_error(problem: TokenProblem) -> JSONResponse:
    service, code, message = _TOKEN[problem]
    return error(401, message, code=code, service=service)


def post_json(post: Post) -> dict[str, Any]:
    millis = int(post.created_at.timestamp() * 1000)
    element: dict[str, Any] = {
        "id": f"urn:li:share:{post.id}",
        "author": f"urn:li:person:{post.account_id}",
        "commentary": post.text,
        "visibility": "PUBLIC",
        "lifecycleState": "PUBLISHED",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "isReshareDisabledByAuthor": False,
        "createdAt": millis,
        "publishedAt": millis,
        "lastModifiedAt": millis,
    }
    if post.content:
        element["content"] = post.content
    return element
