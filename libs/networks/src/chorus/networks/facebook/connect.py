"""Connecting the Facebook Pages a colleague manages: the Login dialog's authorization code, a
long-lived user token (`fb_exchange_token`), then each page's own token from `/me/accounts`.
A page token made from a long-lived user token does not expire. Only pages where the colleague
may create content are posted to; the colleague's personal profile, which no app may post to
since 2018, is connected too, and its shares are manual: a share-dialog link for the colleague."""

from __future__ import annotations

from chorus.common.credentials import Credentials
from chorus.common.http import NetworkHttp
from chorus.networks.answers import json_object, remote_id_of
from chorus.networks.base import AppCredentials, ConnectedIdentity
from chorus.networks.facebook.client import DEFAULT_VERSION, raise_for_failure
from chorus.networks.oauth import authorization_code_url, token_request
from chorus.networks.plumbing import bearer, unusable, url_of

__all__ = ["SCOPES", "FacebookConnector"]

SCOPES = "pages_show_list,pages_manage_posts,pages_read_engagement,read_insights"


class FacebookConnector:
    def authorization_url(
        self, *, app: AppCredentials, redirect_uri: str, state: str, code_challenge: str
    ) -> str:
        # Facebook Login's web flow takes no PKCE; `state` guards it.
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
        version = app.version or DEFAULT_VERSION
        path = f"/{version}/oauth/access_token"
        short = await token_request(
            http,
            app,
            app.api_url,
            {"code": code, "redirect_uri": redirect_uri},
            path=path,
            network="facebook",
            method="GET",
        )
        user = await token_request(
            http,
            app,
            app.api_url,
            {"grant_type": "fb_exchange_token", "fb_exchange_token": short.access_token},
            path=path,
            network="facebook",
            method="GET",
        )
        answer = await http.request(
            "facebook",
            "GET",
            url_of(app.api_url, f"/{version}/me/accounts"),
            effect=False,
            headers=bearer(user.access_token),
            params={"fields": "id,name,access_token,tasks"},
        )
        raise_for_failure(answer, sent=False)
        try:
            pages = json_object(answer)["data"]
            if not isinstance(pages, list):
                raise TypeError("data is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable("facebook", "the pages the colleague manages") from exc
        found = []
        for page in pages:
            if not isinstance(page, dict) or "CREATE_CONTENT" not in (page.get("tasks") or []):
                continue
            try:
                page_id = remote_id_of(page["id"])
                token = remote_id_of(page["access_token"])
            except (KeyError, ValueError):
                continue
            found.append(
                ConnectedIdentity(
                    handle=str(page.get("name") or page_id)[:300],
                    base_url=app.api_url,
                    remote_account_id=page_id,
                    credentials=Credentials(access_token=token),
                    kind="page",
                )
            )
        # The colleague's own profile too: no app may post there, so its shares are manual (a
        # share-dialog link for the colleague), but the colleague still takes part.
        me = await http.request(
            "facebook",
            "GET",
            url_of(app.api_url, f"/{version}/me"),
            effect=False,
            headers=bearer(user.access_token),
            params={"fields": "id,name"},
        )
        raise_for_failure(me, sent=False)
        try:
            person = json_object(me)
            found.append(
                ConnectedIdentity(
                    handle=str(person.get("name") or person["id"])[:300],
                    base_url=app.api_url,
                    remote_account_id=remote_id_of(person["id"]),
                    credentials=user,
                    kind="profile",
                    authorized_until=user.expires_at,
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable("facebook", "the colleague's profile") from exc
        return found
