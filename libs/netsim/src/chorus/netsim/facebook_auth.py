"""Facebook Login: the OAuth dialog, the code exchange for a short-lived user token (an hour),
and `fb_exchange_token` for a long-lived one (60 days). Page tokens come from /me/accounts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from chorus.netsim.facebook_answers import graph_error, token_error
from chorus.netsim.oauth import check_client, consent, redeem
from chorus.netsim.state import SimAccount, SimState

__all__ = ["facebook_auth_router"]

SHORT_SECONDS = 3600
LONG_SECONDS = 60 * 86400


def facebook_auth_router(state: SimState) -> APIRouter:
    router = APIRouter()

    async def dialog(request: Request) -> Response:
        params = {"response_type": "code", **request.query_params}
        return consent(
            state,
            network="facebook",
            params=params,
            page_url=str(request.url).split("?")[0],
            require_pkce=False,
        )

    router.add_api_route("/dialog/oauth", dialog, methods=["GET"])
    router.add_api_route("/{version}/dialog/oauth", dialog, methods=["GET"])

    @router.get("/{version}/oauth/access_token")
    async def access_token(request: Request) -> JSONResponse:
        state.requests["facebook.oauth_token"] += 1
        query = request.query_params
        app = check_client(
            state,
            network="facebook",
            client_id=query.get("client_id"),
            secret=query.get("client_secret") or "",
        )
        if app is None:
            return graph_error(400, "Error validating client secret.", 1)
        if query.get("grant_type") == "fb_exchange_token":
            found = state.lookup(query.get("fb_exchange_token", ""), "facebook")
            if not isinstance(found, SimAccount):
                return token_error(found)
            token = state.issue_token(found, ttl=LONG_SECONDS)
            return JSONResponse(
                {"access_token": token, "token_type": "bearer", "expires_in": LONG_SECONDS}
            )
        grant = redeem(
            state,
            network="facebook",
            code=query.get("code"),
            client_id=app.client_id,
            redirect_uri=query.get("redirect_uri"),
            verifier=query.get("code_verifier"),
        )
        if grant is None or grant.account_id not in state.accounts:
            return graph_error(
                400, "This authorization code has expired or has been used.", 100, subcode=36009
            )
        token = state.issue_token(state.accounts[grant.account_id], ttl=SHORT_SECONDS)
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": SHORT_SECONDS}
        )

    return router
