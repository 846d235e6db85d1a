"""Connecting an X account: OAuth 2 authorization code with PKCE (S256), `offline.access` for a
refresh token; the user's id and handle from `GET /2/users/me`."""

from __future__ import annotations

from chorus.common.http import NetworkHttp
from chorus.networks.answers import json_object, remote_id_of
from chorus.networks.base import AppCredentials, ConnectedIdentity
from chorus.networks.oauth import authorization_code_url, token_request
from chorus.networks.plumbing import bearer, unusable, url_of

__all__ = ["SCOPES", "XConnector"]

SCOPES = "tweet.read tweet.write users.read media.write offline.access"


class XConnector:
    def authorization_url(
        self, *, app: AppCredentials, redirect_uri: str, state: str, code_challenge: str
    ) -> str:
        return authorization_code_url(
            app,
            redirect_uri=redirect_uri,
            state=state,
            scope=SCOPES,
            code_challenge=code_challenge,
        )

    async def exchange(
        self,
        *,
        http: NetworkHttp,
        app: AppCredentials,
        code: str,
        redirect_uri: str,
        code_verifier: str,
    ) -> list[ConnectedIdentity]:
        credentials = await token_request(
            http,
            app,
            app.api_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        answer = await http.request(
            "x",
            "GET",
            url_of(app.api_url, "/2/users/me"),
            effect=False,
            headers=bearer(credentials.access_token),
        )
        try:
            user = json_object(answer)["data"]
            user_id, username = remote_id_of(user["id"]), remote_id_of(user["username"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable("x", "the connected user") from exc
        return [
            ConnectedIdentity(
                handle=username,
                base_url=app.api_url,
                remote_account_id=user_id,
                credentials=credentials,
            )
        ]
