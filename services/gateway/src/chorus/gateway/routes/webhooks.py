from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from chorus.gateway.auth import OrgId
from chorus.gateway.deps import SessionsDep
from chorus.gateway.idempotency import IdempotentRoute, store_instead
from chorus.gateway.problems import BODY_PROBLEMS, problems
from chorus.gateway.webhook_schemas import (
    DeliveryPage,
    WebhookDelivery,
    WebhookIn,
    WebhookOut,
    WebhookSecret,
)
from chorus.gateway.webhooks import (
    create_endpoint,
    delete_endpoint,
    enable_endpoint,
    list_deliveries,
    list_endpoints,
    redeliver,
    rotate_secret,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=IdempotentRoute)

_LOCATION = {
    "Location": {"description": "The webhook's URL.", "schema": {"type": "string"}},
}


def _shown_once(request: Request, answer: WebhookSecret) -> None:
    store_instead(request, answer.model_copy(update={"secret": None}).model_dump_json().encode())


@router.post(
    "",
    status_code=201,
    response_model=WebhookSecret,
    responses={
        201: {
            "description": "The endpoint, and its signing secret in `secret`: shown this "
            "once, store it now. A retry with the same Idempotency-Key answers `secret` null.",
            "headers": _LOCATION,
        },
        **problems(*BODY_PROBLEMS, 409),
    },
    operation_id="create_webhook",
)
async def create_webhook(
    body: WebhookIn, org_id: OrgId, sessions: SessionsDep, request: Request, response: Response
) -> WebhookSecret:
    """Send these events to this URL, each POSTed as JSON `{id, type, created_at, data}` and
    signed: `Chorus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with
    the secret answered here. Retried with backoff for about a day until it answers 2xx."""
    async with sessions.begin() as session:
        made = await create_endpoint(
            session=session,
            keyring=request.app.state.keyring,
            policy=request.app.state.webhook_policy,
            org_id=org_id,
            body=body,
        )
    response.headers["Location"] = f"/v1/webhooks/{made.id}"
    _shown_once(request, made)
    return made


@router.get("", response_model=list[WebhookOut], responses=problems(), operation_id="list_webhooks")
async def get_webhooks(org_id: OrgId, sessions: SessionsDep) -> list[WebhookOut]:
    """The organisation's webhooks, oldest first; never their secrets."""
    async with sessions() as session:
        return await list_endpoints(session=session, org_id=org_id)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    responses={204: {"description": "Deleted."}, **problems(404, 422)},
    operation_id="delete_webhook",
)
async def remove_webhook(webhook_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep) -> Response:
    """Send nothing more there; deliveries still pending fail."""
    async with sessions.begin() as session:
        await delete_endpoint(session=session, org_id=org_id, endpoint_id=webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    status_code=201,
    response_model=WebhookSecret,
    responses={
        201: {
            "description": "The new secret in `secret`, shown this once; the old one "
            "stops signing at once."
        },
        **problems(404, 409, *BODY_PROBLEMS),
    },
    operation_id="rotate_webhook_secret",
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep, request: Request
) -> WebhookSecret:
    """A new signing secret for the webhook, used from the next attempt on."""
    async with sessions.begin() as session:
        rotated = await rotate_secret(
            session=session,
            keyring=request.app.state.keyring,
            org_id=org_id,
            endpoint_id=webhook_id,
        )
    _shown_once(request, rotated)
    return rotated


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    responses=problems(404, 422),
    operation_id="list_webhook_deliveries",
)
async def get_deliveries(
    webhook_id: uuid.UUID,
    org_id: OrgId,
    sessions: SessionsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DeliveryPage:
    """The delivery log, newest first: each event sent to this webhook, its status and
    every attempt (when, the answer's status or the error)."""
    async with sessions() as session:
        return await list_deliveries(
            session=session, org_id=org_id, endpoint_id=webhook_id, limit=limit, cursor=cursor
        )


@router.post(
    "/{webhook_id}/enable",
    response_model=WebhookOut,
    responses={
        200: {"description": "Enabled (or it already was): events are sent there again."},
        **problems(404, 409, 422),
    },
    operation_id="enable_webhook",
)
async def post_enable(webhook_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep) -> WebhookOut:
    """Turn a webhook on again after it answered 410 Gone (which disables it: a CMS says it
    wants no more). Deliveries that failed meanwhile can each be redelivered."""
    async with sessions.begin() as session:
        return await enable_endpoint(session=session, org_id=org_id, endpoint_id=webhook_id)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=WebhookDelivery,
    responses={
        202: {
            "description": "Pending again, due now, with a fresh budget of attempts; earlier "
            "attempts stay in its log. A delivery still pending is answered as it is."
        },
        **problems(404, 409, 422),
    },
    operation_id="redeliver_webhook_delivery",
)
async def post_redeliver(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep
) -> WebhookDelivery:
    """Send one event to the webhook again (the CMS lost it, or was down past the last
    retry). It carries the same `Chorus-Webhook-Id`, so a CMS that did get it can tell.
    A disabled webhook must be enabled first (409)."""
    async with sessions.begin() as session:
        return await redeliver(
            session=session, org_id=org_id, endpoint_id=webhook_id, delivery_id=delivery_id
        )
