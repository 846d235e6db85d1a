"""The colleague's page link: issued to the CMS (which mails it; there is no password) and
revoked by it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from chorus.common.models import Ambassador
from chorus.common.text import SafeLine
from chorus.gateway.auth import OrgId
from chorus.gateway.deps import SessionsDep
from chorus.gateway.idempotency import IdempotentRoute
from chorus.gateway.page import PageLinks
from chorus.gateway.problems import Problem, problems

router = APIRouter(prefix="/v1/ambassadors", tags=["ambassadors"], route_class=IdempotentRoute)

ExternalId = Annotated[
    SafeLine, Path(min_length=1, max_length=200, description="The CMS's own id of the colleague.")
]


class PageLink(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://chorus.example/page/eyJvIjoiN2Y...Rk.x1v3Qm",
                    "expires_at": "2026-12-11T20:00:00Z",
                }
            ]
        }
    )

    url: str = Field(description="The colleague's own page: mail it to them, show it to no one.")
    expires_at: datetime


@router.post(
    "/{external_id}/page-link",
    response_model=PageLink,
    status_code=201,
    responses={
        201: {"description": "A new link; earlier ones keep working until revoked."},
        **problems(404, 409, 422),
    },
    operation_id="create_page_link",
)
async def create_page_link(
    external_id: ExternalId, org_id: OrgId, sessions: SessionsDep, request: Request
) -> PageLink:
    """A signed link to the colleague's page, where they connect networks, give or withdraw
    consent, and approve, edit or skip their shares. It expires (14 days by default) and is
    bound to this organisation and colleague; `DELETE .../page-link` revokes every link
    issued so far. 409 for a colleague who left."""
    async with sessions() as session:
        ambassador = await session.scalar(
            select(Ambassador).where(
                Ambassador.org_id == org_id, Ambassador.external_id == external_id
            )
        )
    if ambassador is None:
        raise Problem(404, f"No ambassador with external id {external_id!r}.")
    if ambassador.status == "left":
        raise Problem(409, "The colleague has left: they have no page.")
    links: PageLinks = request.app.state.page_links
    token, expires = links.issue(ambassador, now=request.app.state.clock())
    public = str(request.app.state.public_url).rstrip("/")
    return PageLink(url=f"{public}/page/{token}", expires_at=expires)


@router.delete(
    "/{external_id}/page-link",
    status_code=204,
    responses={204: {"description": "Every link issued so far is revoked."}, **problems(404, 422)},
    operation_id="revoke_page_links",
)
async def revoke_page_links(
    external_id: ExternalId, org_id: OrgId, sessions: SessionsDep
) -> Response:
    """Revoke every page link issued to the colleague (a lost or forwarded mail): they open a
    403 page from now on; a new link can be issued at once."""
    async with sessions.begin() as session:
        bumped = await session.scalar(
            update(Ambassador)
            .where(Ambassador.org_id == org_id, Ambassador.external_id == external_id)
            .values(page_token_version=Ambassador.page_token_version + 1)
            .returning(Ambassador.id)
        )
    if bumped is None:
        raise Problem(404, f"No ambassador with external id {external_id!r}.")
    return Response(status_code=204)
