"""`Idempotency-Key` on every POST, with the semantics of the IETF draft
(draft-ietf-httpapi-idempotency-key-header): the CMS retries whatever timed out, and a retry
must not do the thing twice.

    router = APIRouter(prefix="/v1/things", route_class=IdempotentRoute)

Every POST route of a router built so takes the header (documented in the OpenAPI document
with the problems it adds). A key is 1 to 255 printable ASCII characters (else 400) and
belongs to the organisation that sent it (POST routes are authenticated). The first request
with it claims it; its answer is stored with a fingerprint of the method, path and body
(JSON compared by meaning, not by spacing) and kept at least 24 h (`idempotency_store`: a
loop in the gateway process deletes older ones, and an older one still found counts as gone).
Then:
- the same key and request: the stored status, Location, Content-Type and body, again;
- the same key and another request: 422;
- the same key while the first is still being answered: 409 with `Retry-After`;
- an answer of 5xx, or an exception, is not stored: the key is freed and a retry runs again.
An answer that shows a secret once (a new API key) is stored without it (`store_instead`).

The claim is a committed row, not a lock held through the request, so no request holds a
second database connection. The price: a replica that dies mid-request leaves the key claimed
until its lease (`CHORUS_IDEMPOTENCY_LEASE_SECONDS`) runs out, and the retry after that runs
the request again, as in Stripe's design. Effects that must never happen twice carry their
own guard in their transaction as well (a campaign keeps its Idempotency-Key).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from chorus.gateway.auth import authenticate
from chorus.gateway.idempotency_store import (
    Answer,
    KeyInFlight,
    KeyReused,
    claim,
    keep,
    release,
)
from chorus.gateway.problems import Problem, problems

__all__ = ["IdempotentRoute", "idempotency_key", "store_instead"]

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[ -~]{1,255}")
# What of an answer a retry gets back besides its status and body.
KEPT_HEADERS = ("location", "content-type")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def idempotency_key(request: Request) -> str | None:
    value = request.headers.get(HEADER)
    if value is not None and _KEY.fullmatch(value) is None:
        raise Problem(400, f"The {HEADER} must be 1 to 255 printable ASCII characters.")
    return value


def store_instead(request: Request, body: bytes) -> None:
    """What a retry of this request gets back as its body, where the answer holds a secret
    that is shown once and must not be kept."""
    request.state.idempotent_body = body


_PARAMETER = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key and request answer what the first one "
    "did (kept 24 h); the same key with another request answers 422; while the first is "
    "still running, 409. Use a new key (a UUID) for each new request.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
    "example": "8e03978e-40d5-43e8-bc93-6894a57f9324",
}
_PROBLEMS = {
    400: f"The {HEADER} is not 1 to 255 printable ASCII characters.",
    409: f"A request with this {HEADER} is still being answered; retry after `Retry-After`.",
    422: f"This {HEADER} was used with a different request.",
}


def _documented(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged = dict(responses)
    for status, text in _PROBLEMS.items():
        entry = dict(merged.get(status) or problems(status)[status])
        said = entry.get("description") if status in merged else None
        entry["description"] = f"{said} Or: {text}" if said else text
        merged[status] = entry
    return merged


class IdempotentRoute(APIRoute):
    """An APIRoute whose POSTs honour `Idempotency-Key`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if "POST" in {method.upper() for method in kwargs.get("methods") or ()}:
            kwargs["responses"] = _documented(kwargs.get("responses") or {})
            extra = dict(kwargs.get("openapi_extra") or {})
            extra["parameters"] = [*extra.get("parameters", []), _PARAMETER]
            kwargs["openapi_extra"] = extra
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        if "POST" not in (self.methods or ()):
            return handler

        async def once(request: Request) -> Response:
            key = idempotency_key(request)
            if key is None:
                return await handler(request)
            caller = await authenticate(request)
            return await _once(request, handler, org_id=caller.org_id, key=key)

        return once


def _fingerprint(request: Request, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return hashlib.sha256(f"{request.method} {target}\n".encode() + canonical).hexdigest()


async def _once(request: Request, handler: Handler, *, org_id: uuid.UUID, key: str) -> Response:
    state = request.app.state
    sessions = state.db.sessions
    try:
        held = await claim(
            sessions=sessions,
            org_id=org_id,
            key=key,
            fingerprint=_fingerprint(request, await request.body()),
            now=state.clock(),
            policy=state.idempotency,
        )
    except KeyReused:
        raise Problem(422, f"This {HEADER} was already used for a different request.") from None
    except KeyInFlight:
        raise Problem(
            409,
            f"A request with this {HEADER} is still being answered.",
            headers={"Retry-After": "1"},
        ) from None
    if isinstance(held, Answer):
        return Response(
            content=held.body,
            status_code=held.status,
            headers={**held.headers, "Idempotent-Replayed": "true"},
        )
    try:
        response = await _answer(request, handler)
    except BaseException:
        await release(sessions=sessions, held=held)
        raise
    body = getattr(response, "body", None)
    if isinstance(body, bytes) and response.status_code < 300:
        body = getattr(request.state, "idempotent_body", body)
    if response.status_code >= 500 or not isinstance(body, bytes):
        await release(sessions=sessions, held=held)
        return response
    headers = {name: value for name in KEPT_HEADERS if (value := response.headers.get(name))}
    await keep(
        sessions=sessions,
        held=held,
        answer=Answer(status=response.status_code, headers=headers, body=body),
    )
    return response


async def _answer(request: Request, handler: Handler) -> Response:
    """The route's answer, with its exceptions turned into the problem the app would send,
    so that a 404 or a 422 is stored like any answer. Unexpected exceptions go on up."""
    try:
        return await handler(request)
    except Exception as exc:
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            if (handle := request.app.exception_handlers.get(cls)) is not None:
                answer = handle(request, exc)
                response: Response = await answer if inspect.isawaitable(answer) else answer
                return response
        raise
