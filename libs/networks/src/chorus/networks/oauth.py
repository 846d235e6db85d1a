"""OAuth 2 as the networks speak it (RFC 6749 authorization code, RFC 7636 PKCE): the parts
every network's connector shares. Each network's own folder says its endpoints and scopes."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from chorus.common.credentials import Credentials
from chorus.common.failures import AuthorizationFailure, TransientFailure
from chorus.common.http import NetworkHttp
from chorus.networks.answers import json_object
from chorus.networks.base import AppCredentials
from chorus.networks.plumbing import url_of

__all__ = [
    "authorization_code_url",
    "code_challenge",
    "new_code_verifier",
    "new_state",
    "token_request",
    "with_query",
]

# RFC 6749 error codes that mean "this grant is dead": the colleague must connect again.
_DEAD_GRANT = frozenset(
    {"invalid_grant", "invalid_request", "unauthorized_client", "invalid_client"}
)


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    # 43-128 characters of the unreserved set (RFC 7636 section 4.1).
    return secrets.token_urlsafe(64)[:96]


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


def authorization_code_url(
    app: AppCredentials,
    *,
    redirect_uri: str,
    state: str,
    scope: str,
    code_challenge: str | None = None,
) -> str:
    """The network's authorisation page for the colleague's browser (RFC 6749 4.1.1), with
    PKCE (RFC 7636, S256) where the network takes it."""
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
    }
    if code_challenge is not None:
        params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    return with_query(app.auth_url, params)


def _basic(app: AppCredentials) -> dict[str, str]:
    pair = f"{app.client_id}:{app.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


async def token_request(
    http: NetworkHttp,
    app: AppCredentials,
    base_url: str,
    form: dict[str, str],
    *,
    path: str = "/2/oauth2/token",
    network: str = "x",
    method: str = "POST",
) -> Credentials:
    """Ask the token endpoint for credentials (a code exchange or a refresh). A refused grant
    is an AuthorizationFailure; anything else unexpected is transient."""
    url = url_of(base_url, path)
    fields = {**form, "client_id": app.client_id}
    if method == "GET":
        answer = await http.request(
            network, "GET", url, effect=False, params={**fields, "client_secret": app.client_secret}
        )
    else:
        # The request changes the grant (a rotating refresh token is spent): a lost answer
        # cannot be replayed, so it is ambiguous to the caller.
        answer = await http.request(
            network, "POST", url, effect=True, headers=_basic(app), data=fields
        )
    try:
        body = json_object(answer)
    except ValueError:
        body = {}
    if answer.status_code >= 500:
        raise TransientFailure(f"{network} token endpoint {answer.status_code}", ambiguous=True)
    if answer.status_code >= 400 or "access_token" not in body:
        error = str(body.get("error") or body.get("error_description") or answer.status_code)
        if answer.status_code in (400, 401) and (error in _DEAD_GRANT or "error" in body):
            raise AuthorizationFailure(f"{network} refused the grant: {error[:100]}")
        raise AuthorizationFailure(f"{network} token endpoint answered {answer.status_code}")
    access = body["access_token"]
    if not isinstance(access, str) or not access:
        raise AuthorizationFailure(f"{network} gave no usable access token")
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0:
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    return Credentials(
        access_token=access,
        refresh_token=refresh
        if isinstance(refresh, str) and refresh
        else form.get("refresh_token"),
        expires_at=expires_at,
    )
