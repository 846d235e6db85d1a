"""Accounts, apps and consent at the simulator, for the network clients' tests: every call goes
over HTTP to the contract-faithful simulator, in-process."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from chorus.common.credentials import Credentials
from chorus.networks import AccountAccess, AppCredentials, MediaFile

__all__ = ["REDIRECT", "access", "app", "consent", "image", "sim_account"]

REDIRECT = "https://chorus.example/v1/connections/callback"


async def sim_account(sim: httpx.AsyncClient, network: str, **extra: Any) -> dict[str, Any]:
    made = await sim.post("/_sim/accounts", json={"network": network, "username": "amb", **extra})
    assert made.status_code == 200, made.text
    account: dict[str, Any] = made.json()[0]
    return account


def access(account: dict[str, Any], *, refresh: str | None = None) -> AccountAccess:
    return AccountAccess(
        base_url=account["base_url"],
        credentials=Credentials(access_token=account["token"], refresh_token=refresh),
        handle=account["username"],
        remote_account_id=account["id"],
    )


async def app(
    sim: httpx.AsyncClient,
    network: str,
    *,
    auth_path: str,
    version: str = "",
    partner: bool = False,
) -> AppCredentials:
    made = await sim.post(
        "/_sim/apps",
        json={"network": network, "redirect_uris": [REDIRECT], "partner": partner},
    )
    assert made.status_code == 200, made.text
    body = made.json()
    return AppCredentials(
        client_id=body["client_id"],
        client_secret=body["client_secret"],
        api_url=f"http://sim/{network}",
        auth_url=f"http://sim/{network}{auth_path}",
        version=version,
        refresh_allowed=partner,
    )


async def consent(sim: httpx.AsyncClient, authorization_url: str, account_id: str) -> str:
    """The colleague clicks Allow on the network's page: the code the network sends back."""
    path = urlsplit(authorization_url)
    # (httpx's `params` would replace the URL's own query.)
    answer = await sim.get(f"{path.path}?{path.query}&sim_account={account_id}")
    assert answer.status_code in (302, 303), answer.text
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    return back["code"][0]


async def image(sim: httpx.AsyncClient, name: str = "campaign") -> MediaFile:
    answer = await sim.get(f"/_sim/images/{name}.png")
    return MediaFile(data=answer.content, mime="image/png", alt="A campaign picture")
