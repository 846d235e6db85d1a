"""`GET /l/{code}`: a share's tracked link, public (the people who read the post follow it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.responses import RedirectResponse

from chorus.common.links import CODE_PATTERN
from chorus.gateway.bots import is_bot
from chorus.gateway.clicks import follow
from chorus.gateway.deps import SessionsDep
from chorus.gateway.problems import Problem, problems

router = APIRouter(tags=["links"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {
        "description": "To the campaign's page, with its UTM parameters. Never cached, so "
        "every click reaches Chorus.",
        "headers": {
            "Location": {
                "description": "The campaign's URL with utm_source, utm_medium, utm_campaign "
                "and utm_content.",
                "schema": {"type": "string"},
                "example": "https://example.com/launch?utm_source=x&utm_medium=social"
                "&utm_campaign=we-shipped&utm_content=emp-1042",
            }
        },
    },
    **{k: v for k, v in problems(404).items() if k not in (401, 429)},
}


@router.get(
    "/l/{code}",
    status_code=302,
    response_class=RedirectResponse,
    responses=_RESPONSES,
    operation_id="follow_link",
    # Public: whoever reads the post follows it, with no key.
    openapi_extra={"security": []},
)
async def follow_link(
    code: Annotated[str, Path(description="The share's link code; anything else is 404.")],
    sessions: SessionsDep,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> RedirectResponse:
    """Follow a share's link: counts one click (unless the user agent is a bot or a link
    preview fetcher) and redirects. Nothing about who clicked is kept."""
    if not CODE_PATTERN.match(code):
        raise Problem(404, "No such link.")
    async with sessions.begin() as session:
        target = await follow(session=session, code=code, count=not is_bot(user_agent))
    if target is None:
        raise Problem(404, "No such link.")
    return RedirectResponse(target.url, status_code=302, headers={"Cache-Control": "no-store"})
