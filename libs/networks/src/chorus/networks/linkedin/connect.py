"""Connecting a LinkedIn member: OAuth 2 authorization code (3-legged), scopes to post and to
read the member's own analytics; the member's id from OpenID Connect `userinfo`. Tokens live 60
days; without a refresh token (only approved partners get one) the account records when its
authorisation runs out, so the colleague is asked to consent again before it does."""

from __future__ import annotations

from chorus.common.http import NetworkHttp
from chorus.networks.answers import json_object, remote_id_of
from chorus.networks.base import AppCredentials, ConnectedIdentity
from chorus.networks.linkedin.client import token_url
from chorus.networks.oauth import authorization_code_url, token_request
from chorus.networks.plumbing import bearer, unusable, url_of

__all__ = ["SCOPES", "LinkedInConnector"]

SCOPES = "openid profile w_member_social r_member_postAnalytics r_member_profileAnalytics"


class LinkedInConnector:
    def authorization_url(
        self, *, app: AppCredentials, redirect_uri: str, state: str, code_challenge: str
    ) -> str:
        # LinkedIn's web flow has no PKCE for confidential clients; `state` guards it.
        return authorization_code_url(
            app,
            redirect_uri=redirect_uri,
            state=state,
            scope=SCOPES,
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
            token_url(app),
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_secret": app.client_secret,
            },
            path="",
            network="linkedin",
        )
        answer = await http.request(
            "linkedin",
            "GET",
            url_of(app.api_url, "/v2/userinfo"),
            effect=False,
            headers=bearer(credentials.access_token),
        )
        try:
            user = json_object(answer)
            member = remote_id_of(user["sub"])
            name = str(user.get("name") or member)[:300]
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable("linkedin", "the member's id") from exc
        return [
            ConnectedIdentity(
                handle=name,
                base_url=app.api_url,
                remote_account_id=member,
                credentials=credentials,
                # Without a refresh token, the token's expiry is the consent's.
                authorized_until=None if credentials.refresh_token else credentials.expires_at,
            )
        ]
