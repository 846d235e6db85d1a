"""The consent step every network puts between an app and a colleague's account.

A real network shows a page and waits for a click; the simulator shows a page too, and takes
`sim_account=<id>` (Allow) or `sim_deny=1` (Deny) so a test can click without a browser. Codes
are single-use, live ten minutes of the simulator's clock, and are bound to the client, the
redirect URI and the PKCE challenge.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chorus.netsim.grants import AuthCode, OAuthApp, RefreshGrant
from chorus.netsim.state import SimAccount, SimState

__all__ = ["check_client", "consent", "redeem", "register_app", "s256", "store_refresh"]

CODE_SECONDS = 600.0
_LISTED = 200


def register_app(
    state: SimState,
    *,
    network: str,
    name: str,
    redirect_uris: list[str],
    scopes: str = "",
    partner: bool = False,
) -> OAuthApp:
    app = OAuthApp(
        client_id=secrets.token_urlsafe(16),
        client_secret=secrets.token_urlsafe(32),
        network=network,
        name=name,
        redirect_uris=redirect_uris,
        scopes=scopes,
        partner=partner,
    )
    state.apps[app.client_id] = app
    return app


def check_client(
    state: SimState, *, network: str, client_id: str | None, secret: str | None
) -> OAuthApp | None:
    """The app, if the id is one of this network's and the secret (when given) is its own."""
    app = state.apps.get(client_id or "")
    if app is None or app.network != network:
        return None
    if secret is not None and not secrets.compare_digest(secret, app.client_secret):
        return None
    return app


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


def _can_consent(account: SimAccount) -> bool:
    # A Facebook page cannot log in; its people do.
    return account.network != "facebook" or account.kind == "user"


def consent(
    state: SimState,
    *,
    network: str,
    params: Mapping[str, str],
    page_url: str,
    require_pkce: bool,
) -> Response:
    """The authorize endpoint: an error page, a redirect with a code or an error, or the page."""
    app = state.apps.get(params.get("client_id", ""))
    if app is None or app.network != network:
        return _page("Unknown application", "<p>client_id is not registered.</p>", 400)
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        # Never redirect to an unregistered URI: that is how codes get stolen.
        return _page("Invalid redirect_uri", "<p>redirect_uri is not registered.</p>", 400)
    extra = {"state": params["state"]} if "state" in params else {}

    def back(answer: dict[str, str]) -> RedirectResponse:
        return RedirectResponse(_with_query(redirect_uri, {**answer, **extra}), status_code=302)

    if params.get("response_type") != "code":
        return back({"error": "unsupported_response_type"})
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or ("plain" if challenge else None)
    if (require_pkce and challenge is None) or method not in (None, "S256", "plain"):
        return back({"error": "invalid_request", "error_description": "PKCE is required"})
    if params.get("sim_deny") == "1":
        return back({"error": "access_denied", "error_description": "The user denied access"})
    chosen = state.accounts.get(params.get("sim_account", ""))
    if chosen is not None and chosen.network == network and _can_consent(chosen):
        code = AuthCode(
            code=secrets.token_urlsafe(24),
            network=network,
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            account_id=chosen.id,
            scope=params.get("scope", ""),
            challenge=challenge,
            method=method,
            expires_at=state.now() + CODE_SECONDS,
        )
        state.codes[code.code] = code
        return back({"code": code.code})
    shown = [a for a in state.accounts.values() if a.network == network and _can_consent(a)]
    links = "".join(
        f'<li>{html.escape(a.username)} <a href="{html.escape(_allow(page_url, params, a.id))}">'
        "Allow</a></li>"
        for a in shown[:_LISTED]
    )
    deny = html.escape(_with_query(page_url, {**params, "sim_deny": "1"}))
    return _page(
        f"{app.name} wants to use your {network} account",
        f'<ul>{links}</ul><p><a href="{deny}">Deny</a></p>',
    )


def _allow(page_url: str, params: Mapping[str, str], account_id: str) -> str:
    return _with_query(page_url, {**params, "sim_account": account_id})


def redeem(
    state: SimState,
    *,
    network: str,
    code: str | None,
    client_id: str | None,
    redirect_uri: str | None,
    verifier: str | None,
) -> AuthCode | None:
    """The code's grant, once: any mismatch burns the code as well, as servers do."""
    grant = state.codes.pop(code or "", None)
    if grant is None or grant.network != network or state.now() >= grant.expires_at:
        return None
    if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
        return None
    if grant.challenge is not None:
        if not verifier:
            return None
        expected = s256(verifier) if grant.method == "S256" else verifier
        if not secrets.compare_digest(expected, grant.challenge):
            return None
    return grant


def store_refresh(
    state: SimState,
    *,
    network: str,
    account_id: str,
    client_id: str,
    scope: str,
    expires_at: float | None,
) -> RefreshGrant:
    grant = RefreshGrant(
        token=secrets.token_urlsafe(32),
        network=network,
        account_id=account_id,
        client_id=client_id,
        scope=scope,
        expires_at=expires_at,
    )
    state.refresh_tokens[grant.token] = grant
    return grant
