from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from chorus.gateway.auth import OrgId
from chorus.gateway.campaigns import campaign_report, create_campaign
from chorus.gateway.deps import SessionsDep
from chorus.gateway.idempotency import IdempotentRoute, idempotency_key
from chorus.gateway.problems import BODY_PROBLEMS, problems
from chorus.gateway.schemas import CampaignIn, CampaignOut

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], route_class=IdempotentRoute)


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
            "description": "Accepted: its shares are staged next.",
            "links": {
                "GetCampaign": {
                    "operationId": "get_campaign",
                    "parameters": {"campaign_id": "$response.body#/id"},
                }
            },
        },
        **problems(*BODY_PROBLEMS),
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
    """Create a campaign; it is shared to every connected account on its networks."""
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
        return await campaign_report(session=session, org_id=org_id, campaign_id=campaign_id)


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
