"""Mastodon's OAuth (Doorkeeper): apps registered per instance with `POST /api/v1/apps`, the
authorize page, and `POST /oauth/token`; PKCE is optional but checked when the app used it.
Tokens do not expire."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from chorus.netsim.basic import basic_client
from chorus.netsim.forms import listed, read_body
from chorus.netsim.oauth import check_client, consent, redeem, register_app
from chorus.netsim.state import SimState

__all__ = ["mastodon_auth_router"]

_INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
_INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def mastodon_auth_router(state: SimState) -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/apps")
    async def create_app(request: Request) -> JSONResponse:
        body = await read_body(request)
        name = body.get("client_name")
        if not isinstance(name, str) or not name.strip():
            return JSONResponse(
                {"error": "Validation failed: Application name can't be blank"}, status_code=422
            )
        uris: list[str] = []
        for value in listed(body, "redirect_uris"):
            uris.extend(u.strip() for u in str(value).split("\n") if u.strip())
        if not uris:
            return JSONResponse(
                {"error": "Validation failed: Redirect URI can't be blank"}, status_code=422
            )
        scopes = body.get("scopes") if isinstance(body.get("scopes"), str) else "read"
        app = register_app(
            state, network="mastodon", name=name, redirect_uris=uris, scopes=str(scopes)
        )
        return JSONResponse(
            {
                "id": str(len(state.apps)),
                "name": app.name,
                "website": body.get("website"),
                "scopes": app.scopes.split(),
                "redirect_uri": "\n".join(uris),
                "redirect_uris": uris,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "client_secret_expires_at": 0,
            }
        )

    @router.get("/oauth/authorize")
    async def authorize(request: Request) -> Response:
        return consent(
            state,
            network="mastodon",
            params=dict(request.query_params),
            page_url=str(request.url).split("?")[0],
            require_pkce=False,
        )

    @router.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        state.requests["mastodon.oauth_token"] += 1
        body = await read_body(request)
        client_id, secret = basic_client(request) or (
            body.get("client_id"),
            body.get("client_secret"),
        )
        verifier = body.get("code_verifier")
        if secret is None and not verifier:
            # A confidential client without its secret; public clients prove themselves by PKCE.
            return _oauth_error(401, "invalid_client", _INVALID_CLIENT)
        app = check_client(state, network="mastodon", client_id=client_id, secret=secret)
        if app is None:
            return _oauth_error(401, "invalid_client", _INVALID_CLIENT)
        if body.get("grant_type") != "authorization_code":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        grant = redeem(
            state,
            network="mastodon",
            code=body.get("code"),
            client_id=app.client_id,
            redirect_uri=body.get("redirect_uri"),
            verifier=verifier,
        )
        if grant is None or grant.account_id not in state.accounts:
            return _oauth_error(400, "invalid_grant", _INVALID_GRANT)
        access = state.issue_token(state.accounts[grant.account_id], ttl=None)
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "scope": grant.scope or app.scopes,
                "created_at": int(state.now()),
            }
        )

    return router
