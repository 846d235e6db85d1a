"""The colleague's page: HTML for a browser, reached by the signed link the CMS mailed. Every
form answers with a redirect back to the page (or the page again, with the error by the form),
and a refused link or form answers a short page that changes nothing. Not in the OpenAPI
document: it is the colleague's, not part of the CMS's contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.credentials import change_mode, erase_credentials, renew_consent
from chorus.common.kinds import Network
from chorus.common.models import Account, Campaign, Share
from chorus.common.shares import Reviewed, approve_share, edit_share, skip_share
from chorus.gateway.connections import ConnectionRefused, sign_in_with_password, start_flow
from chorus.gateway.deps import SessionsDep
from chorus.gateway.page.forms import csrf_for, read_form, set_csrf, valid_csrf
from chorus.gateway.page.links import LinkRefused, PageLinks, PageVisitor
from chorus.gateway.page.views import content_of, networks, pending
from chorus.networks import spec_for

router = APIRouter(prefix="/page", include_in_schema=False)

_templates = Environment(
    loader=PackageLoader("chorus.gateway.page", "templates"),
    autoescape=select_autoescape(default=True),
)
NOTICES = {
    "approved": "Approved: it goes out at its planned time.",
    "edited": "Your text is saved.",
    "skipped": "Skipped: it will not be posted.",
    "mode": "Saved: Chorus follows your choice from now on.",
    "withdrawn": "Consent withdrawn: nothing more is posted there, and it is disconnected.",
    "renewed": "Consent renewed.",
    "connected": "Connected.",
}
REFUSED = {
    LinkRefused.Why.INVALID: "This link is not valid. Ask for a new one.",
    LinkRefused.Why.EXPIRED: "This link has expired. Ask for a new one.",
    LinkRefused.Why.REVOKED: "This link was withdrawn. Ask for a new one.",
}
TOO_LATE = "Too late: this share was already sent, or its time has passed."
MAX_TEXT = 5000


def _message(title: str, text: str, status: int) -> Response:
    body = _templates.get_template("message.html").render(title=title, text=text)
    return _secure(HTMLResponse(body, status_code=status))


def _secure(response: Response) -> Response:
    # The URL is the colleague's credential: never sent onwards, never cached.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
        "form-action 'self' https: http:; frame-ancestors 'none'"
    )
    return response


def _links(request: Request) -> PageLinks:
    links: PageLinks = request.app.state.page_links
    return links


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def _page_url(request: Request, token: str) -> str:
    return f"{str(request.app.state.public_url).rstrip('/')}/page/{token}"


async def _visitor(request: Request, sessions: SessionsDep, token: str) -> PageVisitor | Response:
    async with sessions() as session:
        try:
            return await _links(request).open(session=session, token=token, now=_now(request))
        except LinkRefused as exc:
            return _message("Link not usable", REFUSED[exc.why], exc.status)


async def _render(
    request: Request,
    sessions: SessionsDep,
    visitor: PageVisitor,
    token: str,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
    drafts: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    csrf = csrf_for(request)
    async with sessions() as session:
        rows = await networks(
            session=session,
            org_id=visitor.org_id,
            ambassador_id=visitor.ambassador.id,
            now=_now(request),
        )
        shares = await pending(
            session=session, org_id=visitor.org_id, ambassador_id=visitor.ambassador.id
        )
    body = _templates.get_template("page.html").render(
        name=visitor.ambassador.display_name,
        base=f"/page/{token}",
        csrf=csrf,
        notice=notice,
        errors=errors or {},
        drafts=drafts or {},
        networks=rows,
        shares=shares,
        status_label={"awaiting_review": "Waiting for your approval", "planned": "Planned"},
    )
    response = HTMLResponse(body, status_code=status)
    set_csrf(response, csrf, secure=str(request.app.state.public_url).startswith("https:"))
    return _secure(response)


@router.get("/{token}", response_class=HTMLResponse)
async def show_page(request: Request, token: str, sessions: SessionsDep) -> Response:
    visitor = await _visitor(request, sessions, token)
    if not isinstance(visitor, PageVisitor):
        return visitor
    done = request.query_params.get("done", "")
    notice = NOTICES.get(done)
    if request.query_params.get("connected") in {n.value for n in Network}:
        notice = NOTICES["connected"]
    return await _render(request, sessions, visitor, token, notice=notice)


async def _form_visit(
    request: Request, sessions: SessionsDep, token: str
) -> tuple[PageVisitor, dict[str, str]] | Response:
    visitor = await _visitor(request, sessions, token)
    if not isinstance(visitor, PageVisitor):
        return visitor
    form = await read_form(request)
    if not valid_csrf(request, form):
        return _message(
            "Not done",
            "This form was not sent from your page (or the page is too old): open your link "
            "again and retry.",
            403,
        )
    return visitor, form


def _back(token: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/page/{token}?done={done}", status_code=303)


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@router.post("/{token}/accounts/{account_id}/{action}")
async def account_action(
    request: Request, token: str, account_id: str, action: str, sessions: SessionsDep
) -> Response:
    """`mode` (auto or review), `withdraw`, `renew`: each a row in the consent ledger."""
    visited = await _form_visit(request, sessions, token)
    if isinstance(visited, Response):
        return visited
    visitor, form = visited
    account = _uuid(account_id)
    mode = form.get("mode", "")
    if account is None or action not in ("mode", "withdraw", "renew"):
        return _message("Not found", "There is no such account on your page.", 404)
    if action == "mode" and mode not in ("auto", "review"):
        return _message("Not done", "Choose auto or review.", 422)
    ids: dict[str, Any] = {"org_id": visitor.org_id, "account_id": account}
    who = visitor.ambassador.id
    async with sessions.begin() as session:
        if action == "mode":
            found = await change_mode(
                session=session, ambassador_id=who, mode=mode, actor="colleague", **ids
            )
            ok = found is not None
        elif action == "renew":
            try:
                await renew_consent(
                    session=session,
                    ambassador_id=who,
                    lifetime_of=lambda network: spec_for(network).consent_lifetime,
                    actor="colleague",
                    **ids,
                )
                ok = True
            except LookupError:
                ok = False
        else:
            ok = await _withdraw(session, visitor, account)
    if not ok:
        return _message("Not found", "There is no such connected account on your page.", 404)
    return _back(token, {"mode": "mode", "withdraw": "withdrawn", "renew": "renewed"}[action])


async def _withdraw(session: AsyncSession, visitor: PageVisitor, account_id: uuid.UUID) -> bool:
    owner = await session.scalar(
        select(Account.ambassador_id).where(
            Account.id == account_id, Account.org_id == visitor.org_id
        )
    )
    if owner != visitor.ambassador.id:
        return False
    done: bool = await erase_credentials(
        session=session,
        org_id=visitor.org_id,
        account_id=account_id,
        actor="colleague",
        reason="consent withdrawn by the colleague",
    )
    return done


@router.post("/{token}/connect/{network}")
async def connect(request: Request, token: str, network: str, sessions: SessionsDep) -> Response:
    """OAuth networks: off to the network's page, back here (`return_to`) once allowed.
    Bluesky: the app password typed in the form, used once and never stored."""
    visited = await _form_visit(request, sessions, token)
    if isinstance(visited, Response):
        return visited
    visitor, form = visited
    if network not in {n.value for n in Network}:
        return _message("Not found", "Chorus does not post to that network.", 404)
    chosen = Network(network)
    state = request.app.state
    try:
        async with sessions.begin() as session:
            if spec_for(chosen).password_sign_in is not None:
                await sign_in_with_password(
                    session=session,
                    org_id=visitor.org_id,
                    external_id=visitor.ambassador.external_id,
                    network=chosen,
                    service=form.get("service", "").strip(),
                    identifier=form.get("identifier", "").strip(),
                    password=form.get("app_password", "").strip(),
                    http=state.network_http,
                    keyring=state.keyring,
                )
                return _back(token, "connected")
            started = await start_flow(
                session=session,
                org_id=visitor.org_id,
                external_id=visitor.ambassador.external_id,
                network=chosen,
                instance=form.get("instance", "").strip() or None,
                return_to=_page_url(request, token),
                apps=state.network_apps,
                http=state.network_http,
                keyring=state.keyring,
                redirect_uri=str(state.public_url).rstrip("/") + "/v1/connections/callback",
            )
    except ConnectionRefused as exc:
        return await _render(
            request,
            sessions,
            visitor,
            token,
            errors={f"network-{network}": exc.detail},
            status=exc.status,
        )
    return RedirectResponse(started.authorization_url, status_code=303)


def _text_problem(text: str) -> str | None:
    if not text.strip():
        return "Write something, or skip this share."
    if len(text) > MAX_TEXT:
        return f"At most {MAX_TEXT} characters."
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        return "The text has control characters."
    return None


@router.post("/{token}/shares/{share_id}/{action}")
async def share_action(
    request: Request, token: str, share_id: str, action: str, sessions: SessionsDep
) -> Response:
    """`approve`, `edit` (within the network's limits) or `skip` one of the colleague's shares."""
    visited = await _form_visit(request, sessions, token)
    if isinstance(visited, Response):
        return visited
    visitor, form = visited
    share = _uuid(share_id)
    if share is None or action not in ("approve", "edit", "skip"):
        return _message("Not found", "There is no such share on your page.", 404)
    ids: dict[str, Any] = {
        "org_id": visitor.org_id,
        "ambassador_id": visitor.ambassador.id,
        "share_id": share,
    }
    async with sessions.begin() as session:
        if action == "approve":
            verdict = await approve_share(session=session, **ids)
        elif action == "skip":
            verdict = await skip_share(session=session, **ids)
        else:
            text = form.get("text", "").replace("\r\n", "\n")
            problem = _text_problem(text) or await _network_problem(session, visitor, share, text)
            if problem is not None:
                verdict = None
            else:
                verdict = await edit_share(session=session, text_override=text, **ids)
    if verdict is None:
        return await _render(
            request,
            sessions,
            visitor,
            token,
            errors={str(share): problem or ""},
            drafts={str(share): text},
            status=422,
        )
    if verdict is Reviewed.UNKNOWN:
        return _message("Not found", "There is no such share on your page.", 404)
    if verdict is Reviewed.TOO_LATE:
        return _message("Not done", TOO_LATE, 409)
    return _back(token, {"approve": "approved", "edit": "edited", "skip": "skipped"}[action])


async def _network_problem(
    session: AsyncSession, visitor: PageVisitor, share_id: uuid.UUID, text: str
) -> str | None:
    """The network's own limits on the text, as it will be posted (with the link)."""
    row = (
        await session.execute(
            select(Share.network, Campaign)
            .join(Campaign, Campaign.id == Share.campaign_id)
            .where(Share.id == share_id, Share.org_id == visitor.org_id)
        )
    ).one_or_none()
    if row is None:
        return None  # the edit itself answers "not found"
    problems = spec_for(Network(row.network)).problems(content_of(row.Campaign, text))
    return "; ".join(problems) or None
