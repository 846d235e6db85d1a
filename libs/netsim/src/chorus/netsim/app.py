"""The simulator app: one HTTP server, one path prefix per network (`/mastodon/...`, `/x/...`,
`/linkedin/...`, `/facebook/...`) and the test controls under `/_sim`."""

from __future__ import annotations

from fastapi import FastAPI

from chorus.netsim.control import control_router
from chorus.netsim.facebook import facebook_router
from chorus.netsim.linkedin import linkedin_router
from chorus.netsim.mastodon import mastodon_router
from chorus.netsim.state import SimState
from chorus.netsim.x import x_router

__all__ = ["create_app"]


def create_app(state: SimState | None = None) -> FastAPI:
    state = state or SimState()
    app = FastAPI(title="Chorus network simulator", docs_url="/_sim/docs", openapi_url=None)
    app.state.sim = state
    for router in (mastodon_router, x_router, linkedin_router, facebook_router):
        app.include_router(router(state))
    app.include_router(control_router(state))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
