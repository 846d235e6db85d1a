"""Connecting a colleague's account without anyone at the CMS handling a password or a token.

The CMS starts a flow for a colleague and gets the network's authorization URL to send them to;
the network sends the colleague's browser back to our callback with a code, which is exchanged
here and the tokens stored through the credentials owner. The `state` names the flow (single
use, 15 minutes), and the PKCE verifier, sealed like any credential, never leaves Chorus.
Bluesky has no OAuth for third parties yet that every PDS supports: an app password, typed by
the colleague, is turned into a session at once and not kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.common.addresses import DestinationRefused
from chorus.common.credentials import AccountTaken, Credentials, Keyring, connect_account
from chorus.common.failures import (
    AuthorizationFailure,
    PermanentFailure,
    RateLimited,
    TransientFailure,
)
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.models import Account, Ambassador, OAuthApp, OAuthFlow
from chorus.networks import AppCredentials, ConnectedIdentity, NetworkSpec, spec_for
from chorus.networks.oauth import code_challenge, new_code_verifier, new_state

__all__ = [
    "FLOW_LIFETIME",
    "ConnectionRefused",
    "FinishedFlow",
    "Started",
    "finish_flow",
    "sign_in_with_password",
    "start_flow",
]

FLOW_LIFETIME = timedelta(minutes=15)


class ConnectionRefused(Exception):
    """The flow cannot start or finish; `status` is the HTTP status that says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Started:
    state: str
    authorization_url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class FinishedFlow:
    network: Network
    accounts: list[Account]
    return_to: str | None


def _network_failure(exc: Exception) -> ConnectionRefused:
    if isinstance(exc, AuthorizationFailure):
        return ConnectionRefused(403, exc.reason)
    if isinstance(exc, PermanentFailure):
        return ConnectionRefused(422, exc.reason)
    if isinstance(exc, TransientFailure | RateLimited):
        return ConnectionRefused(503, f"The network did not answer usably: {exc}")
    return ConnectionRefused(502, "The network's answer could not be used.")


async def _app(
    session: AsyncSession,
    *,
    spec: NetworkSpec,
    apps: dict[Network, AppCredentials],
    instance: str,
    http: NetworkHttp,
    keyring: Keyring,
    redirect_uri: str,
) -> AppCredentials:
    if spec.register_app is None:
        app = apps.get(spec.network)
        if app is None:
            raise ConnectionRefused(
                409, f"Chorus has no {spec.label} app configured (CHORUS_NETWORK_APPS)."
            )
        return app
    if not instance:
        raise ConnectionRefused(422, f"Say which {spec.label} server the account is on (instance).")
    row = await session.get(OAuthApp, (spec.network.value, instance))
    if row is not None:
        secret = keyring.open(row.sealed_secret).access_token
        return AppCredentials(
            client_id=row.client_id,
            client_secret=secret,
            api_url=instance,
            auth_url=instance + "/oauth/authorize",
        )
    try:
        app = await spec.register_app(http, instance, redirect_uri)
    except Exception as exc:
        raise _network_failure(exc) from exc
    # Two colleagues registering at once: the first registration stands.
    await session.execute(
        insert(OAuthApp)
        .values(
            network=spec.network.value,
            instance=instance,
            client_id=app.client_id,
            sealed_secret=keyring.seal(Credentials(access_token=app.client_secret)),
        )
        .on_conflict_do_nothing()
    )
    row = await session.get(OAuthApp, (spec.network.value, instance), populate_existing=True)
    assert row is not None
    return AppCredentials(
        client_id=row.client_id,
        client_secret=keyring.open(row.sealed_secret).access_token,
        api_url=instance,
        auth_url=instance + "/oauth/authorize",
    )


async def _ambassador(session: AsyncSession, org_id: uuid.UUID, external_id: str) -> Ambassador:
    found = await session.scalar(
        select(Ambassador).where(Ambassador.org_id == org_id, Ambassador.external_id == external_id)
    )
    if found is None:
        raise ConnectionRefused(404, f"No ambassador with external id {external_id!r}.")
    if found.status != "active":
        # A paused colleague gets no shares and one who left has had every credential erased:
        # connecting an account for either would hold a token nobody uses.
        raise ConnectionRefused(
            409, f"The colleague is {found.status}: only active colleagues connect accounts."
        )
    return found


def _instance(raw: str | None, http: NetworkHttp) -> str:
    if not raw:
        return ""
    instance = raw.rstrip("/")
    try:
        http.policy.check_url(instance)
    except DestinationRefused as exc:
        raise ConnectionRefused(422, f"The server cannot be used: {exc}.") from exc
    return instance


async def start_flow(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    external_id: str,
    network: Network,
    instance: str | None,
    return_to: str | None,
    apps: dict[Network, AppCredentials],
    http: NetworkHttp,
    keyring: Keyring,
    redirect_uri: str,
) -> Started:
    spec = spec_for(network)
    if spec.connector is None:
        raise ConnectionRefused(
            422,
            f"{spec.label} accounts are connected with an app password, not an authorization "
            "page: use the app-password route.",
        )
    ambassador = await _ambassador(session, org_id, external_id)
    base = _instance(instance, http)
    app = await _app(
        session,
        spec=spec,
        apps=apps,
        instance=base,
        http=http,
        keyring=keyring,
        redirect_uri=redirect_uri,
    )
    state, verifier = new_state(), new_code_verifier()
    session.add(
        OAuthFlow(
            state=state,
            org_id=org_id,
            ambassador_id=ambassador.id,
            network=network.value,
            instance=base,
            sealed_verifier=keyring.seal(Credentials(access_token=verifier)),
            return_to=return_to,
        )
    )
    url = spec.connector.authorization_url(
        app=app, redirect_uri=redirect_uri, state=state, code_challenge=code_challenge(verifier)
    )
    return Started(state=state, authorization_url=url, expires_at=datetime.now(UTC) + FLOW_LIFETIME)


async def _take_flow(sessions: async_sessionmaker[AsyncSession], state: str) -> OAuthFlow:
    """The flow named by `state`, marked used in its own transaction: a code is exchanged once,
    even if the colleague's browser calls the callback twice."""
    async with sessions.begin() as session:
        flow = await session.scalar(
            update(OAuthFlow)
            .where(OAuthFlow.state == state, OAuthFlow.used_at.is_(None))
            .where(OAuthFlow.created_at > datetime.now(UTC) - FLOW_LIFETIME)
            .values(used_at=datetime.now(UTC))
            .returning(OAuthFlow)
        )
    if not isinstance(flow, OAuthFlow):
        raise ConnectionRefused(
            400, "This connection link was already used or has expired: start again."
        )
    return flow


async def _store(
    session: AsyncSession,
    *,
    keyring: Keyring,
    org_id: uuid.UUID,
    ambassador_id: uuid.UUID,
    network: Network,
    identities: list[ConnectedIdentity],
    actor: str,
) -> list[Account]:
    stored = []
    for identity in identities:
        try:
            connected = await connect_account(
                session=session,
                keyring=keyring,
                org_id=org_id,
                ambassador_id=ambassador_id,
                network=network,
                handle=identity.handle,
                base_url=identity.base_url,
                remote_account_id=identity.remote_account_id,
                credentials=identity.credentials,
                mode="auto",
                actor=actor,
                kind=identity.kind,
                authorized_until=identity.authorized_until,
                by_network=identity.known_by_id,
                consent_lifetime=spec_for(network).consent_lifetime,
            )
        except AccountTaken as exc:
            raise ConnectionRefused(409, f"{exc}; it must be disconnected there first.") from exc
        stored.append(connected.account)
    return stored


async def finish_flow(
    *,
    sessions: async_sessionmaker[AsyncSession],
    state: str,
    code: str,
    apps: dict[Network, AppCredentials],
    http: NetworkHttp,
    keyring: Keyring,
    redirect_uri: str,
) -> FinishedFlow:
    flow = await _take_flow(sessions, state)
    network = Network(flow.network)
    spec = spec_for(network)
    assert spec.connector is not None
    async with sessions.begin() as session:
        app = await _app(
            session,
            spec=spec,
            apps=apps,
            instance=flow.instance,
            http=http,
            keyring=keyring,
            redirect_uri=redirect_uri,
        )
    try:
        identities = await spec.connector.exchange(
            http=http,
            app=app,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=keyring.open(flow.sealed_verifier).access_token,
        )
    except Exception as exc:
        raise _network_failure(exc) from exc
    async with sessions.begin() as session:
        accounts = await _store(
            session,
            keyring=keyring,
            org_id=flow.org_id,
            ambassador_id=flow.ambassador_id,
            network=network,
            identities=identities,
            actor="colleague",
        )
    return FinishedFlow(network=network, accounts=accounts, return_to=flow.return_to)


async def sign_in_with_password(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    external_id: str,
    network: Network,
    service: str,
    identifier: str,
    password: str,
    http: NetworkHttp,
    keyring: Keyring,
) -> list[Account]:
    spec = spec_for(network)
    if spec.password_sign_in is None:
        raise ConnectionRefused(422, f"{spec.label} accounts are connected through OAuth.")
    ambassador = await _ambassador(session, org_id, external_id)
    base = _instance(service, http) or spec.api_url
    try:
        identity = await spec.password_sign_in(http, base, identifier, password)
    except Exception as exc:
        raise _network_failure(exc) from exc
    return await _store(
        session,
        keyring=keyring,
        org_id=org_id,
        ambassador_id=ambassador.id,
        network=network,
        identities=[identity],
        actor="colleague",
    )
