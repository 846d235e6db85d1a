"""X's OAuth 2.0 with PKCE (mandatory): access tokens live 2 hours, refresh tokens (scope
`offline.access`) rotate, so a refresh token works exactly once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from chorus.netsim.basic import basic_client
from chorus.netsim.forms import read_body
from chorus.netsim.grants import OAuthApp
from chorus.netsim.oauth import check_client, consent, redeem, store_refresh
from chorus.netsim.state import SimState

__all__ = ["ACCESS_SECONDS", "x_auth_router"]

ACCESS_SECONDS = 7200


def _invalid(description: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_request", "error_description": description}, status_code=400
    )


def x_auth_router(state: SimState) -> APIRouter:
    router = APIRouter()

    @router.get("/i/oauth2/authorize")
    async def authorize(request: Request) -> Response:
        return consent(
            state,
            network="x",
            params=dict(request.query_params),
            page_url=str(request.url).split("?")[0],
            require_pkce=True,
        )

    def client(request: Request, body: dict[str, Any]) -> OAuthApp | None:
        basic = basic_client(request)
        if basic is not None:
            return check_client(state, network="x", client_id=basic[0], secret=basic[1])
        return check_client(state, network="x", client_id=body.get("client_id"), secret=None)

    def pair(account_id: str, client_id: str, scope: str) -> dict[str, Any]:
        account = state.accounts[account_id]
        answer: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": ACCESS_SECONDS,
            "access_token": state.issue_token(account, ttl=ACCESS_SECONDS),
            "scope": scope,
        }
        if "offline.access" in scope.split():
            answer["refresh_token"] = store_refresh(
                state,
                network="x",
                account_id=account_id,
                client_id=client_id,
                scope=scope,
                expires_at=None,
            ).token
        return answer

    @router.post("/2/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        state.requests["x.oauth_token"] += 1
        body = await read_body(request)
        app = client(request, body)
        if app is None:
            return JSONResponse(
                {
                    "error": "unauthorized_client",
                    "error_description": "Missing valid authorization header",
                },
                status_code=401,
            )
        grant_type = body.get("grant_type")
        if grant_type == "authorization_code":
            grant = redeem(
                state,
                network="x",
                code=body.get("code"),
                client_id=app.client_id,
                redirect_uri=body.get("redirect_uri"),
                verifier=body.get("code_verifier"),
            )
            if grant is None:
                return _invalid("Value passed for the authorization code was invalid.")
            return JSONResponse(pair(grant.account_id, app.client_id, grant.scope))
        if grant_type == "refresh_token":
            old = state.refresh_tokens.get(body.get("refresh_token") or "")
            if old is None or old.network != "x" or old.client_id != app.client_id:
                return _invalid("Value passed for the token was invalid.")
            if old.account_id not in state.accounts:
                return _invalid("Value passed for the token was invalid.")
            del state.refresh_tokens[old.token]  # rotation: the used one never works again
            return JSONResponse(pair(old.account_id, app.client_id, old.scope))
        return JSONResponse(
            {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"},
            status_code=400,
        )

    return router
