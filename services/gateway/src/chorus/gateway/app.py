"""The gateway's HTTP app. Resources (database, key ring, address policy) are handed in, so
tests build the same app over their own servers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.health import database_checks
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.ops import add_ops_routes
from chorus.gateway.idempotency_store import IdempotencyPolicy
from chorus.gateway.page import PageLinks
from chorus.gateway.page import router as page_router
from chorus.gateway.problems import (
    install_problem_handlers,
    problem_media_type,
    problem_response,
)
from chorus.gateway.ratelimit import TokenBuckets
from chorus.gateway.routes import (
    ambassadors,
    api_keys,
    campaigns,
    connections,
    links,
    page_links,
    reach,
    webhooks,
)
from chorus.networks import AppCredentials

__all__ = ["create_app"]


def create_app(
    *,
    db: Database,
    keyring: Keyring,
    address_policy: AddressPolicy,
    network_http: NetworkHttp,
    network_apps: dict[Network, AppCredentials] | None = None,
    public_url: str = "http://127.0.0.1:8000",
    allow_raw_tokens: bool = False,
    max_body_bytes: int = 512 * 1024,
    extra_health: Callable[[], dict[str, bool]] | None = None,
    rate_limiter: TokenBuckets | None = None,
    idempotency: IdempotencyPolicy | None = None,
    clock: Callable[[], datetime] | None = None,
    webhook_policy: AddressPolicy | None = None,
    page_link_lifetime: timedelta = timedelta(days=14),
) -> FastAPI:
    """`rate_limiter` None: no limit per key. `clock` is the wall clock the API judges keys'
    expiry and idempotency retention by (tests move it). `webhook_policy`: where webhook
    endpoints may point (public https only if not given)."""
    app = FastAPI(title="Chorus", version="1", docs_url="/docs", redoc_url=None)
    app.state.db = db
    app.state.keyring = keyring
    app.state.address_policy = address_policy
    app.state.network_http = network_http
    app.state.network_apps = network_apps or {}
    app.state.public_url = public_url
    app.state.allow_raw_tokens = allow_raw_tokens
    app.state.rate_limiter = rate_limiter
    app.state.idempotency = idempotency or IdempotencyPolicy()
    app.state.clock = clock or _now
    app.state.webhook_policy = webhook_policy or AddressPolicy()
    app.state.page_links = PageLinks(keyring, lifetime=page_link_lifetime)
    install_problem_handlers(app)
    app.include_router(api_keys.router)
    app.include_router(campaigns.router)
    app.include_router(ambassadors.router)
    app.include_router(connections.router)
    app.include_router(webhooks.router)
    app.include_router(page_links.router)
    app.include_router(page_router)
    app.include_router(links.router)
    app.include_router(reach.router)
    _document_problems_as_sent(app)

    async def health() -> dict[str, bool]:
        return {**await database_checks(db), **(extra_health() if extra_health else {})}

    # /metrics only on the ops port (__main__): not through the public Service.
    add_ops_routes(app, health, metrics=False)
    app.state.health = health

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if "transfer-encoding" in request.headers:
            # Without a declared length the size limit could only be found by reading it all.
            return problem_response(411, "Send the body with a Content-Length header.")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_bytes):
            return problem_response(413, f"Request bodies are limited to {max_body_bytes} bytes.")
        # The colleague's page takes its browser's forms; the API takes JSON only.
        is_page = request.url.path.startswith("/page/")
        if request.method in ("POST", "PUT", "PATCH") and length not in (None, "0") and not is_page:
            ctype = request.headers.get("content-type", "")
            if not ctype.startswith("application/json"):
                return problem_response(415, "Send the body as application/json.")
        return await call_next(request)

    return app


def _now() -> datetime:
    return datetime.now(UTC)


def _document_problems_as_sent(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_media_type(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
