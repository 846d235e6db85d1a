"""Graph API answer shapes: `{"error": {message, type, code, error_subcode, fbtrace_id}}`, the
usage headers (percentages of the limit), and the `fields=` syntax with nested modifiers."""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse

from chorus.netsim.state import TokenProblem

__all__ = ["THROTTLE_MESSAGES", "field_names", "graph_error", "graph_time", "token_error", "usage"]

THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
}
_TOKEN = {
    "invalid": (None, "Invalid OAuth access token - Cannot parse access token"),
    "expired": (463, "Error validating access token: Session has expired."),
    "revoked": (
        460,
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
    ),
}


def graph_error(
    status: int,
    message: str,
    code: int,
    *,
    subcode: int | None = None,
    headers: dict[str, str] | None = None,
    transient: bool = False,
) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        body["error_subcode"] = subcode
    if transient:
        body["is_transient"] = True
    body["fbtrace_id"] = secrets.token_urlsafe(8)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def token_error(problem: TokenProblem) -> JSONResponse:
    subcode, message = _TOKEN[problem]
    return graph_error(400, message, 190, subcode=subcode)


def usage(*, page_id: str | None, used: int, cap: int, regain_minutes: int) -> dict[str, str]:
    """X-App-Usage always; X-Business-Use-Case-Usage when a Page token made the call."""
    percent = 100 if cap <= 0 else min(100, used * 100 // cap)
    headers = {
        "X-App-Usage": json.dumps(
            {"call_count": percent, "total_cputime": percent // 2, "total_time": percent // 2}
        )
    }
    if page_id is not None:
        entry = {
            "type": "pages",
            "call_count": percent,
            "total_cputime": percent // 2,
            "total_time": percent // 2,
            "estimated_time_to_regain_access": regain_minutes if percent >= 100 else 0,
        }
        headers["X-Business-Use-Case-Usage"] = json.dumps({page_id: [entry]})
    return headers


def field_names(fields: str) -> set[str]:
    """`shares,reactions.summary(total_count).limit(0)` -> {"shares", "reactions"}."""
    names: set[str] = set()
    depth, current = 0, ""
    for char in fields + ",":
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        if char == "," and depth == 0:
            name = current.strip().split(".")[0].split("{")[0].split("(")[0]
            if name:
                names.add(name)
            current = ""
        else:
            current += char
    return names


def graph_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")
