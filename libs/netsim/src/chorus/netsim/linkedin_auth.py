"""LinkedIn's 3-legged OAuth: 60-day access tokens; refresh tokens only for partner apps, with
a 365-day lifetime fixed at first consent (refreshing does not extend it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from chorus.netsim.forms import read_body
from chorus.netsim.grants import OAuthApp
from chorus.netsim.oauth import check_client, consent, redeem, store_refresh
from chorus.netsim.state import SimState

__all__ = ["ACCESS_SECONDS", "linkedin_auth_router"]

ACCESS_SECONDS = 60 * 86400
REFRESH_SECONDS = 365 * 86400


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def linkedin_auth_router(state: SimState) -> APIRouter:
    router = APIRouter()

    @router.get("/oauth/v2/authorization")
    async def authorize(request: Request) -> Response:
        return consent(
            state,
            network="linkedin",
            params=dict(request.query_params),
            page_url=str(request.url).split("?")[0],
            require_pkce=False,
        )

    def access(app: OAuthApp, account_id: str, scope: str) -> dict[str, Any]:
        token = state.issue_token(state.accounts[account_id], ttl=ACCESS_SECONDS)
        return {"access_token": token, "expires_in": ACCESS_SECONDS, "scope": scope}

    @router.post("/oauth/v2/accessToken")
    async def access_token(request: Request) -> JSONResponse:
        state.requests["linkedin.oauth_token"] += 1
        body = await read_body(request)
        app = check_client(
            state,
            network="linkedin",
            client_id=body.get("client_id"),
            secret=body.get("client_secret") or "",
        )
        if app is None:
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        grant_type = body.get("grant_type")
        if grant_type == "authorization_code":
            grant = redeem(
                state,
                network="linkedin",
                code=body.get("code"),
                client_id=app.client_id,
                redirect_uri=body.get("redirect_uri"),
                verifier=body.get("code_verifier"),
            )
            if grant is None or grant.account_id not in state.accounts:
                return _oauth_error(
                    400,
                    "invalid_request",
                    "Unable to retrieve access token: appid/redirect uri/code verifier does "
                    "not match authorization code. Or authorization code expired.",
                )
            answer = access(app, grant.account_id, grant.scope)
            if app.partner:
                refresh = store_refresh(
                    state,
                    network="linkedin",
                    account_id=grant.account_id,
                    client_id=app.client_id,
                    scope=grant.scope,
                    expires_at=state.now() + REFRESH_SECONDS,
                )
                answer.update(refresh_token=refresh.token, refresh_token_expires_in=REFRESH_SECONDS)
            return JSONResponse(answer)
        if grant_type == "refresh_token":
            if not app.partner:
                return _oauth_error(
                    400, "invalid_request", "Refresh tokens are not enabled for this application"
                )
            held = state.refresh_tokens.get(body.get("refresh_token") or "")
            if (
                held is None
                or held.network != "linkedin"
                or held.client_id != app.client_id
                or held.expires_at is None
                or state.now() >= held.expires_at
                or held.account_id not in state.accounts
            ):
                return _oauth_error(
                    400, "invalid_request", "The provided refresh token is invalid or expired"
                )
            answer = access(app, held.account_id, held.scope)
            answer.update(
                refresh_token=held.token,
                refresh_token_expires_in=int(held.expires_at - state.now()),
            )
            return JSONResponse(answer)
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type")

    return router
