"""Connecting a Mastodon account: Chorus registers its own app on each instance the first time a
colleague connects there (`POST /api/v1/apps`), then the authorization code flow with PKCE on
that instance. Mastodon's tokens do not expire."""

from __future__ import annotations

from chorus.common.failures import PermanentFailure
from chorus.common.http import NetworkHttp
from chorus.networks.answers import json_object, remote_id_of
from chorus.networks.base import AppCredentials, ConnectedIdentity
from chorus.networks.oauth import authorization_code_url, token_request
from chorus.networks.plumbing import bearer, unusable, url_of

__all__ = ["SCOPES", "MastodonConnector", "register_app"]

SCOPES = "read write:statuses write:media"


async def register_app(http: NetworkHttp, instance: str, redirect_uri: str) -> AppCredentials:
    """Chorus's app on `instance` (its client id and secret), registered now."""
    answer = await http.request(
        "mastodon",
        "POST",
        url_of(instance, "/api/v1/apps"),
        effect=False,
        json={
            "client_name": "Chorus",
            "redirect_uris": redirect_uri,
            "scopes": SCOPES,
            "website": "https://github.com/chorus-advocacy/chorus",
        },
    )
    if answer.status_code >= 400:
        raise PermanentFailure(
            f"mastodon: {instance} refused to register Chorus ({answer.status_code})"
        )
    try:
        body = json_object(answer)
        return AppCredentials(
            client_id=remote_id_of(body["client_id"]),
            client_secret=remote_id_of(body["client_secret"]),
            api_url=instance,
            auth_url=url_of(instance, "/oauth/authorize"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise unusable("mastodon", "an app registration") from exc


class MastodonConnector:
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
                "client_secret": app.client_secret,
                "scope": SCOPES,
            },
            path="/oauth/token",
            network="mastodon",
        )
        answer = await http.request(
            "mastodon",
            "GET",
            url_of(app.api_url, "/api/v1/accounts/verify_credentials"),
            effect=False,
            headers=bearer(credentials.access_token),
        )
        try:
            account = json_object(answer)
            account_id, username = remote_id_of(account["id"]), remote_id_of(account["username"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable("mastodon", "the connected account") from exc
        # The handle, not the id, names the account (as the development route always did), so
        # reconnecting through OAuth an account first connected by token is the same account.
        return [
            ConnectedIdentity(
                handle=username,
                base_url=app.api_url,
                remote_account_id=account_id,
                credentials=credentials,
                known_by_id=False,
            )
        ]
