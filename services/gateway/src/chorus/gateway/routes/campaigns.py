from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute

from chorus.common.kinds import CampaignStatus, ShareStatus
from chorus.common.shares import cancel_campaign, retry_failed
from chorus.gateway.auth import OrgId
from chorus.gateway.campaign_lists import list_campaigns, list_shares
from chorus.gateway.campaign_schemas import CampaignPage, IsoTime, RetryOut, SharePage
from chorus.gateway.campaigns import campaign_report, create_campaign
from chorus.gateway.deps import SessionsDep
from chorus.gateway.idempotency import IdempotentRoute, idempotency_key
from chorus.gateway.paging import MAX_LIMIT
from chorus.gateway.preview_schemas import TOO_LONG_EXAMPLE, CampaignPreview
from chorus.gateway.previews import preview_campaign
from chorus.gateway.problems import BODY_PROBLEMS, Problem, problems
from chorus.gateway.schemas import CampaignIn, CampaignOut, PostableNetwork

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], route_class=IdempotentRoute)


def _content_problems() -> dict[int | str, dict[str, Any]]:
    """The body's problems, 422 also saying which networks the campaign does not fit."""
    documented = problems(*BODY_PROBLEMS)
    documented[422] = {
        **documented[422],
        "description": "The request does not validate, or the campaign does not fit some of "
        "its networks: each is listed in `errors` with the field to shorten, how the network "
        "counts, the length and the limit. Nothing is written.",
        "content": {"application/json": {"example": TOO_LONG_EXAMPLE}},
    }
    return documented


@router.post(
    "",
    status_code=201,
    response_model=CampaignOut,
    responses={
        200: {
            "model": CampaignOut,
            "description": "A retry with the same Idempotency-Key and body after its stored "
            "answer expired (24 h): the first campaign, as it is now.",
        },
        201: {
            "description": "Accepted: its shares are staged next. `preview` shows each "
            "network's post as it will be shown there.",
            "links": {
                "GetCampaign": {
                    "operationId": "get_campaign",
                    "parameters": {"campaign_id": "$response.body#/id"},
                }
            },
        },
        **_content_problems(),
    },
    operation_id="create_campaign",
)
async def post_campaign(
    body: CampaignIn,
    org_id: OrgId,
    sessions: SessionsDep,
    request: Request,
    response: Response,
) -> CampaignOut:
    """Create a campaign; it is shared to every connected account of its audience on its
    networks, each network getting its variant where it has one.

    Each share gets its own time in the campaign's `window`, in its colleague's open hours
    (outside their quiet hours, on their own clock), at most `daily_cap` shares a day per
    account across campaigns, some seconds apart per network and within the network's app
    budget. A share with no time left in the window is recorded as `skipped` with the reason.
    Without a window ("now") the shares spread over the next 24 hours, unless the
    organisation's `spread_now` setting is off: then they all go out at once. Shares of an
    account in review mode wait for the colleague's approval (`awaiting_review`).

    422: a field is invalid; the window ends before it starts, has ended, lasts more than 30
    days or starts more than a year ahead; the audience lists nobody or more than its bound;
    or the campaign does not fit one of its networks (too long for X, more than 300 graphemes
    for Bluesky, ...), naming each network and why. Nothing is written."""
    # Refused now, with the publisher's own rendering, what a network would refuse later;
    # before any connection is taken, and nothing is written.
    shown = preview_campaign(body)
    async with sessions.begin() as session:
        # Besides the stored answer, the campaign keeps the key in its own transaction: a
        # retry can never make a second campaign (a second post on every colleague's
        # timeline), even after the answer expired or its request died midway.
        campaign_id, created = await create_campaign(
            session=session, org_id=org_id, body=body, idempotency_key=idempotency_key(request)
        )
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/campaigns/{campaign_id}"
    async with sessions() as session:
        # A replay's body is the first one's (same fingerprint): so is its preview.
        return await campaign_report(
            session=session, org_id=org_id, campaign_id=campaign_id, preview=shown
        )


# `_org` is unused but authenticates the caller and spends from its key's rate like any route.
async def post_preview(body: CampaignIn, _org: OrgId) -> CampaignPreview:
    """What `POST /v1/campaigns` would post on each network, or the 422 it would answer,
    with no effect: nothing is written, nothing is sent. For a CMS editor, as the author
    types. Mastodon is measured against 500, its default: each colleague's instance says its
    own limit only when it is posted to.

    Being without effect, it does not take part in Idempotency-Key: a key sent is ignored and
    no answer is stored (a retry is simply answered again; a stored answer would be a write
    per keystroke, and a key reused with the edited text a 422)."""
    return CampaignPreview(preview=preview_campaign(body))


# A plain route, not an IdempotentRoute: see post_preview.
router.add_api_route(
    ":preview",
    post_preview,
    methods=["POST"],
    response_model=CampaignPreview,
    responses={
        200: {"description": "Each network's post as that network will show it."},
        **_content_problems(),
    },
    operation_id="preview_campaign",
    route_class_override=APIRoute,
)


@router.get(
    "/{campaign_id}",
    response_model=CampaignOut,
    responses=problems(404, 422),
    operation_id="get_campaign",
)
async def get_campaign(campaign_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep) -> CampaignOut:
    """The campaign, its shares counted by status and network, and the reach read back."""
    async with sessions() as session:
        return await campaign_report(session=session, org_id=org_id, campaign_id=campaign_id)


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}.")]
Cursor = Annotated[
    str | None,
    Query(max_length=500, description="`next_cursor` of the previous page; none for the first."),
]


@router.get(
    "",
    response_model=CampaignPage,
    responses=problems(422),
    operation_id="list_campaigns",
)
async def get_campaigns(
    org_id: OrgId,
    sessions: SessionsDep,
    status: Annotated[
        list[CampaignStatus], Query(description="Only these statuses (repeat the parameter).")
    ] = [],  # noqa: B006 (FastAPI copies defaults per request)
    network: Annotated[
        PostableNetwork | None, Query(description="Only campaigns posting to this network.")
    ] = None,
    created_from: Annotated[
        IsoTime | None, Query(description="Created at or after (ISO 8601, with offset).")
    ] = None,
    created_to: Annotated[
        IsoTime | None, Query(description="Created before (ISO 8601, with offset).")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CampaignPage:
    """The organisation's campaigns, newest first, a page at a time: follow `next_cursor`
    until it is null. Campaigns created while paging appear on no later page, and none is
    listed twice. Filters must stay the same from page to page."""
    async with sessions() as session:
        return await list_campaigns(
            session=session,
            org_id=org_id,
            statuses=status,
            network=network,
            created_from=created_from,
            created_to=created_to,
            limit=limit,
            cursor=cursor,
        )


@router.post(
    "/{campaign_id}/cancel",
    response_model=CampaignOut,
    responses={
        200: {
            "description": "Cancelled (or it already was: the same answer again). Shares "
            "not yet posted are cancelled; published ones stay. A share whose network call "
            "is already under way cannot be called back: it ends published or cancelled."
        },
        **problems(404, 409, 422),
    },
    operation_id="cancel_campaign",
)
async def post_cancel(campaign_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep) -> CampaignOut:
    """Cancel a campaign: nothing more of it is posted. A completed campaign has nothing left
    to cancel (409)."""
    async with sessions.begin() as session:
        done = await cancel_campaign(
            session=session,
            org_id=org_id,
            campaign_id=campaign_id,
            reason="the campaign was cancelled",
        )
    if done is None:
        raise Problem(404, "No such campaign for this organisation.")
    if done.was is CampaignStatus.COMPLETED:
        raise Problem(409, "The campaign has completed: every share has its outcome already.")
    async with sessions() as session:
        return await campaign_report(session=session, org_id=org_id, campaign_id=campaign_id)


@router.post(
    "/{campaign_id}/retry",
    response_model=RetryOut,
    responses={
        200: {
            "description": "How many failed shares were planned again (to go out now), and "
            "how many were left failed because their account must be connected again first."
        },
        **problems(404, 409, 422),
    },
    operation_id="retry_campaign",
)
async def post_retry(campaign_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep) -> RetryOut:
    """Retry only the campaign's failed shares; published ones are never posted again, and a
    retried share reuses its idempotency key, so even a post that did go out unseen is not
    doubled. A completed campaign is scheduled again and completes again later. A cancelled
    campaign is not retried (409)."""
    async with sessions.begin() as session:
        done = await retry_failed(session=session, org_id=org_id, campaign_id=campaign_id)
    if done is None:
        raise Problem(404, "No such campaign for this organisation.")
    if done.was is CampaignStatus.CANCELLED:
        raise Problem(409, "The campaign was cancelled: its shares are not retried.")
    async with sessions() as session:
        report = await campaign_report(session=session, org_id=org_id, campaign_id=campaign_id)
    return RetryOut(
        retried=done.retried,
        skipped_needs_reauth=done.needs_reauth,
        skipped_disconnected=done.disconnected,
        campaign=report,
    )


@router.get(
    "/{campaign_id}/shares",
    response_model=SharePage,
    responses=problems(404, 422),
    operation_id="list_campaign_shares",
)
async def get_shares(
    campaign_id: uuid.UUID,
    org_id: OrgId,
    sessions: SessionsDep,
    status: Annotated[
        list[ShareStatus], Query(description="Only these statuses (repeat the parameter).")
    ] = [],  # noqa: B006 (FastAPI copies defaults per request)
    network: Annotated[PostableNetwork | None, Query(description="Only this network.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SharePage:
    """The campaign's shares one by one (one per colleague's account), a page at a time:
    follow `next_cursor` until it is null."""
    async with sessions() as session:
        return await list_shares(
            session=session,
            org_id=org_id,
            campaign_id=campaign_id,
            statuses=status,
            network=network,
            limit=limit,
            cursor=cursor,
        )
