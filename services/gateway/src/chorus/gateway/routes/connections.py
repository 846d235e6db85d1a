"""Connecting accounts: the CMS starts a flow for a colleague; the network sends the colleague's
browser back to the callback; Bluesky takes an app password. No token passes through the CMS."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from chorus.common.kinds import Network
from chorus.common.text import SafeLine, line_problem
from chorus.gateway.ambassadors import account_out
from chorus.gateway.auth import OrgId
from chorus.gateway.connections import (
    ConnectionRefused,
    finish_flow,
    sign_in_with_password,
    start_flow,
)
from chorus.gateway.deps import SessionsDep
from chorus.gateway.idempotency import IdempotentRoute
from chorus.gateway.problems import BODY_PROBLEMS, Problem, problems
from chorus.gateway.schemas import AccountOut, PostableNetwork, PublicUrl

router = APIRouter(tags=["connections"], route_class=IdempotentRoute)

ExternalId = Annotated[
    SafeLine, Path(min_length=1, max_length=200, description="The CMS's own id of the colleague.")
]
CALLBACK_PATH = "/v1/connections/callback"


class ConnectionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"network": "x", "return_to": "https://intranet.example/advocacy/connected"},
                {"network": "mastodon", "instance": "https://mastodon.social"},
            ]
        },
    )

    network: PostableNetwork
    instance: PublicUrl | None = Field(
        default=None, description="The colleague's server, where the network has several."
    )
    return_to: PublicUrl | None = Field(
        default=None,
        description="Where the colleague's browser goes once connected (with `connected=` "
        "or `error=` added); without it, Chorus shows a short page.",
    )


class ConnectionStarted(BaseModel):
    state: str
    authorization_url: str = Field(description="Send the colleague's browser here.")
    expires_at: datetime


class AppPasswordIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"identifier": "alice.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"}]
        },
    )

    identifier: SafeLine = Field(min_length=1, max_length=320, description="Handle or e-mail.")
    app_password: SafeLine = Field(min_length=1, max_length=200, repr=False)
    service: PublicUrl | None = Field(
        default=None, description="The account's PDS or entryway; bsky.social if not given."
    )


def _redirect_uri(request: Request) -> str:
    return str(request.app.state.public_url).rstrip("/") + CALLBACK_PATH


def _refused(exc: ConnectionRefused) -> Problem:
    return Problem(exc.status, exc.detail)


@router.post(
    "/v1/ambassadors/{external_id}/connections",
    status_code=201,
    response_model=ConnectionStarted,
    responses={
        201: {"description": "The flow is started: send the colleague to the URL."},
        **problems(404, 409, 503, *BODY_PROBLEMS),
    },
    operation_id="start_connection",
)
async def start_connection(
    external_id: ExternalId,
    body: ConnectionIn,
    org_id: OrgId,
    sessions: SessionsDep,
    request: Request,
) -> ConnectionStarted:
    """Start connecting a colleague's account on a network (OAuth 2 authorization code, PKCE
    where the network has it). The answer's `authorization_url` is for the colleague's
    browser; the network sends them back to Chorus, which stores the tokens."""
    state = request.app.state
    try:
        async with sessions.begin() as session:
            started = await start_flow(
                session=session,
                org_id=org_id,
                external_id=external_id,
                network=body.network,
                instance=str(body.instance) if body.instance else None,
                return_to=str(body.return_to) if body.return_to else None,
                apps=state.network_apps,
                http=state.network_http,
                keyring=state.keyring,
                redirect_uri=_redirect_uri(request),
            )
    except ConnectionRefused as exc:
        raise _refused(exc) from exc
    return ConnectionStarted(
        state=started.state,
        authorization_url=started.authorization_url,
        expires_at=started.expires_at,
    )


def _page(title: str, text: str, status: int) -> HTMLResponse:
    body = (
        "<!doctype html><html lang='en'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>"
        "<body style='font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;"
        f"padding:0 1rem'><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _back(return_to: str, **params: str) -> RedirectResponse:
    joiner = "&" if "?" in return_to else "?"
    return RedirectResponse(f"{return_to}{joiner}{urlencode(params)}", status_code=303)


@router.get(
    CALLBACK_PATH,
    response_class=HTMLResponse,
    responses={
        200: {
            "description": "Connected: a short page for the colleague.",
            "content": {"text/html": {}},
        },
        303: {"description": "Connected or refused: back to the CMS's `return_to`."},
        400: {"description": "Unknown, used or expired flow.", "content": {"text/html": {}}},
        403: {
            "description": "The colleague refused, or the network refused the grant.",
            "content": {"text/html": {}},
        },
        409: {"description": "The account is another colleague's.", "content": {"text/html": {}}},
        422: {"description": "Invalid parameters.", "content": {"text/html": {}}},
        502: {"description": "The network's answer was unusable.", "content": {"text/html": {}}},
        503: {"description": "The network did not answer.", "content": {"text/html": {}}},
    },
    operation_id="connection_callback",
    openapi_extra={"security": []},
)
async def connection_callback(
    request: Request,
    sessions: SessionsDep,
    # Plain strings, checked below: this route answers a browser, so even a malformed query
    # gets a page, not a JSON problem.
    state: Annotated[str | None, Query(description="The flow's state, from the network.")] = None,
    code: Annotated[str | None, Query(description="The authorization code.")] = None,
    error: Annotated[str | None, Query(description="Set when the colleague refused.")] = None,
) -> Response:
    """Where the network sends the colleague's browser back. Public: the `state` is the proof."""
    for name, value, limit in (("state", state, 64), ("code", code, 2000), ("error", error, 200)):
        if value is not None and (len(value) > limit or line_problem(value) is not None):
            return _page("Not connected", f"The network's {name} is not usable.", 422)
    if not state:
        return _page("Not connected", "The link has no state: start again.", 400)
    app_state = request.app.state
    if error is not None or code is None:
        return _page("Not connected", "The network did not give Chorus access.", 403)
    try:
        done = await finish_flow(
            sessions=sessions,
            state=state,
            code=code,
            apps=app_state.network_apps,
            http=app_state.network_http,
            keyring=app_state.keyring,
            redirect_uri=_redirect_uri(request),
        )
    except ConnectionRefused as exc:
        return _page("Not connected", exc.detail, exc.status)
    if done.return_to:
        return _back(done.return_to, connected=done.network.value, accounts=str(len(done.accounts)))
    names = ", ".join(a.handle for a in done.accounts)
    return _page("Connected", f"Chorus can now share on {done.network.value} as {names}.", 200)


@router.post(
    "/v1/ambassadors/{external_id}/connections/{network}/app-password",
    status_code=201,
    response_model=list[AccountOut],
    responses={
        201: {"description": "Connected."},
        **problems(403, 404, 409, 502, 503, *BODY_PROBLEMS),
    },
    operation_id="connect_with_app_password",
)
async def connect_with_app_password(
    external_id: ExternalId,
    network: Annotated[Literal["bluesky"], Path()],
    body: AppPasswordIn,
    org_id: OrgId,
    sessions: SessionsDep,
    request: Request,
) -> list[AccountOut]:
    """Connect a Bluesky account with an app password, typed by the colleague on their own
    page. The password is turned into a session at once and never stored."""
    state = request.app.state
    try:
        async with sessions.begin() as session:
            accounts = await sign_in_with_password(
                session=session,
                org_id=org_id,
                external_id=external_id,
                network=Network(network),
                service=str(body.service) if body.service else "",
                identifier=body.identifier,
                password=body.app_password,
                http=state.network_http,
                keyring=state.keyring,
            )
    except ConnectionRefused as exc:
        raise _refused(exc) from exc
    return [account_out(a, external_id) for a in accounts]
