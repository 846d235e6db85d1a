"""The ops endpoint every worker serves: `/healthz` (readiness, truthful: checks its
dependencies), `/livez` (liveness: the event loop answers) and `/metrics` (Prometheus). The
gateway serves them on its ops port too, and only /healthz and /livez on its API port: its
metrics are not for whoever reaches the public Service.

Liveness deliberately ignores dependencies: a database outage should take replicas out of
service, not restart every one of them at once; a service whose own loop dies exits by itself
(`lifecycle.supervise`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Generator

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["EmbeddedServer", "add_ops_routes", "serve_ops"]

HealthCheck = Callable[[], Awaitable[dict[str, bool]]]


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside a service: signals belong to the service, not to uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def add_ops_routes(app: FastAPI, health: HealthCheck, *, metrics: bool = True) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        checks = await health()
        ok = all(checks.values())
        body = "".join(f"{name} {'ok' if up else 'down'}\n" for name, up in checks.items())
        return Response(body, status_code=200 if ok else 503, media_type="text/plain")

    @app.get("/livez", include_in_schema=False)
    async def livez() -> Response:
        return Response("alive\n", media_type="text/plain")

    if metrics:

        @app.get("/metrics", include_in_schema=False)
        async def serve_metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@contextlib.asynccontextmanager
async def serve_ops(*, host: str, port: int, health: HealthCheck) -> AsyncIterator[None]:
    """Serve the ops routes while the block runs; port 0 serves nothing."""
    if port == 0:
        yield
        return
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    add_ops_routes(app, health)
    server = EmbeddedServer(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        yield
    finally:
        server.should_exit = True
        await task
