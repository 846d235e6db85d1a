"""Connecting a Bluesky account with an app password (Settings > App passwords): the colleague
types it into Chorus's own page, it is turned into a session at once and never stored; the
session's tokens are. The account's own PDS, from its DID document, serves every later call."""

from __future__ import annotations

from typing import Any

from chorus.common.addresses import DestinationRefused
from chorus.common.failures import AuthorizationFailure, PermanentFailure
from chorus.common.http import NetworkHttp
from chorus.networks.answers import json_object, remote_id_of
from chorus.networks.base import ConnectedIdentity
from chorus.networks.bluesky.client import raise_for_failure, session_credentials
from chorus.networks.plumbing import unusable, url_of

__all__ = ["sign_in"]


def _pds(body: dict[str, Any], service: str) -> str:
    """The PDS named in the session's DID document, or the service that answered."""
    doc = body.get("didDoc")
    services = doc.get("service") if isinstance(doc, dict) else None
    for entry in services or []:
        if isinstance(entry, dict) and str(entry.get("id", "")).endswith("#atproto_pds"):
            endpoint = entry.get("serviceEndpoint")
            if isinstance(endpoint, str) and endpoint.startswith(("https://", "http://")):
                return endpoint.rstrip("/")
    return service.rstrip("/")


async def sign_in(
    http: NetworkHttp, service: str, identifier: str, password: str
) -> ConnectedIdentity:
    answer = await http.request(
        "bluesky",
        "POST",
        url_of(service, "/xrpc/com.atproto.server.createSession"),
        effect=False,
        json={"identifier": identifier, "password": password},
    )
    if answer.status_code == 401:
        raise AuthorizationFailure("bluesky: the handle or app password is wrong")
    raise_for_failure(answer, sent=False)
    try:
        body = json_object(answer)
        credentials = session_credentials(body)
        handle = remote_id_of(body["handle"])
    except (ValueError, KeyError, TypeError) as exc:
        raise unusable("bluesky", "a session") from exc
    did = credentials.extra["did"]
    # The address comes from the network's answer: it is checked like any other before use.
    try:
        http.policy.check_url(_pds(body, service))
    except DestinationRefused as exc:
        raise PermanentFailure(f"bluesky: the account's PDS cannot be used: {exc}") from exc
    return ConnectedIdentity(
        handle=handle,
        base_url=_pds(body, service),
        remote_account_id=did,
        credentials=credentials,
    )
