from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from chorus.common.text import SafeLine
from chorus.gateway.ambassadors import list_accounts, put_account, revoke_account
from chorus.gateway.auth import OrgId
from chorus.gateway.colleagues import (
    ambassador_out,
    find_colleague,
    get_colleague,
    list_colleagues,
    upsert_colleagues,
)
from chorus.gateway.deps import SessionsDep
from chorus.gateway.idempotency import IdempotentRoute
from chorus.gateway.problems import BODY_PROBLEMS, Problem, problems
from chorus.gateway.schemas import (
    AccountIn,
    AccountOut,
    AmbassadorDetail,
    AmbassadorIn,
    AmbassadorItem,
    AmbassadorOut,
    AmbassadorPage,
    AmbassadorsIn,
    AmbassadorStatus,
    AmbassadorsUpserted,
)

router = APIRouter(prefix="/v1/ambassadors", tags=["ambassadors"], route_class=IdempotentRoute)

ExternalId = Annotated[
    SafeLine, Path(min_length=1, max_length=200, description="The CMS's own id of the colleague.")
]


@router.post(
    ":bulk",
    response_model=AmbassadorsUpserted,
    responses={
        200: {"description": "Each colleague created, updated or unchanged, and the counts."},
        **problems(*BODY_PROBLEMS),
    },
    operation_id="upsert_ambassadors",
)
async def upsert_ambassadors(
    body: AmbassadorsIn, org_id: OrgId, sessions: SessionsDep
) -> AmbassadorsUpserted:
    """Create or update up to 1,000 colleagues by the CMS's own ids, in one transaction: the
    same list twice changes nothing (`unchanged`, `updated_at` kept). A colleague now
    `paused` or `left` has their planned shares cancelled; `left` also erases their accounts'
    credentials (recorded in the consent ledger). A refused item is named by its index
    (`errors[].location`: `["body", "ambassadors", 3, "timezone"]`) and nothing is written.
    Colleagues missing from the list are left alone: send `left` to remove one."""
    async with sessions.begin() as session:
        return await upsert_colleagues(session=session, org_id=org_id, items=body.ambassadors)


@router.put(
    "/{external_id}",
    response_model=AmbassadorOut,
    responses={
        200: {
            "description": "The colleague, created or updated.",
            "links": {
                "ConnectAccount": {
                    "operationId": "connect_account",
                    "parameters": {"external_id": "$request.path.external_id"},
                }
            },
        },
        **problems(*BODY_PROBLEMS),
    },
    operation_id="upsert_ambassador",
)
async def upsert_ambassador(
    external_id: ExternalId, body: AmbassadorIn, org_id: OrgId, sessions: SessionsDep
) -> AmbassadorOut:
    """Create or update one colleague by the CMS's own id (the bulk upsert, for one: fields
    not sent take their defaults, and a status change has the same effects)."""
    item = AmbassadorItem(external_id=external_id, **body.model_dump())
    async with sessions.begin() as session:
        await upsert_colleagues(session=session, org_id=org_id, items=[item])
        row = await find_colleague(session=session, org_id=org_id, external_id=external_id)
    return ambassador_out(row)


@router.get(
    "",
    response_model=AmbassadorPage,
    responses=problems(422),
    operation_id="list_ambassadors",
)
async def get_ambassadors(
    org_id: OrgId,
    sessions: SessionsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    cursor: Annotated[
        SafeLine | None,
        Query(max_length=100, description="`next_cursor` of the previous page."),
    ] = None,
    status: Annotated[AmbassadorStatus | None, Query()] = None,
    group: Annotated[
        SafeLine | None, Query(min_length=1, max_length=100, description="Members of it.")
    ] = None,
) -> AmbassadorPage:
    """Colleagues, a page at a time, in a stable order: follow `next_cursor` until it is
    null to see each exactly once."""
    async with sessions() as session:
        return await list_colleagues(
            session=session, org_id=org_id, limit=limit, cursor=cursor, status=status, group=group
        )


@router.get(
    "/{external_id}",
    response_model=AmbassadorDetail,
    responses=problems(404, 422),
    operation_id="get_ambassador",
)
async def get_ambassador(
    external_id: ExternalId, org_id: OrgId, sessions: SessionsDep
) -> AmbassadorDetail:
    """One colleague with their accounts (connected, needs_reauth with the reason, revoked;
    `authorized_until`) and, per network, the consent ledger's latest entry."""
    async with sessions() as session:
        return await get_colleague(session=session, org_id=org_id, external_id=external_id)


@router.post(
    "/{external_id}/accounts",
    response_model=AccountOut,
    status_code=201,
    responses={
        200: {"model": AccountOut, "description": "The account was already connected: updated."},
        201: {
            "description": "Connected.",
            "links": {
                "DisconnectAccount": {
                    "operationId": "disconnect_account",
                    "parameters": {
                        "external_id": "$request.path.external_id",
                        "account_id": "$response.body#/id",
                    },
                }
            },
        },
        **problems(403, 404, 409, *BODY_PROBLEMS),
    },
    operation_id="connect_account",
)
async def connect_account(
    external_id: ExternalId,
    body: AccountIn,
    org_id: OrgId,
    sessions: SessionsDep,
    request: Request,
    response: Response,
) -> AccountOut:
    """Development only (`CHORUS_ALLOW_RAW_TOKENS`; 403 otherwise): connect a colleague's
    account from a token. In production accounts are connected with `start_connection`, so
    no token passes through the CMS. One remote account belongs to one colleague: connecting
    it under another answers 409."""
    if not request.app.state.allow_raw_tokens:
        raise Problem(
            403,
            "Accounts are connected through the network's own authorisation "
            "(POST /v1/ambassadors/{external_id}/connections); taking a token directly is a "
            "development setting (CHORUS_ALLOW_RAW_TOKENS).",
        )
    async with sessions.begin() as session:
        account, created = await put_account(
            session=session,
            org_id=org_id,
            external_id=external_id,
            body=body,
            keyring=request.app.state.keyring,
            policy=request.app.state.address_policy,
        )
    if not created:
        response.status_code = 200
    return account


@router.get(
    "/{external_id}/accounts",
    response_model=list[AccountOut],
    responses=problems(404, 422),
    operation_id="list_accounts",
)
async def get_accounts(
    external_id: ExternalId, org_id: OrgId, sessions: SessionsDep
) -> list[AccountOut]:
    """A colleague's accounts, never their credentials: `status` is `connected`,
    `needs_reauth` (the network refused the authorisation; `status_reason` says why; the
    colleague must connect it again) or `revoked`; `authorized_until` is when an authorisation
    that cannot be refreshed runs out (LinkedIn's 60 days)."""
    async with sessions() as session:
        return await list_accounts(session=session, org_id=org_id, external_id=external_id)


@router.delete(
    "/{external_id}/accounts/{account_id}",
    status_code=204,
    responses=problems(404, 422),
    operation_id="disconnect_account",
)
async def disconnect_account(
    external_id: ExternalId, account_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep
) -> Response:
    """Withdraw consent: no new shares for this account, its credentials are erased, and its
    shares not yet posted are cancelled."""
    async with sessions.begin() as session:
        await revoke_account(
            session=session, org_id=org_id, external_id=external_id, account_id=account_id
        )
    return Response(status_code=204)
