from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chorus.common.credentials import CredentialsBox
from chorus.common.db import Database
from chorus.gateway.app import create_app


@pytest.fixture
async def api(clean_db: Database, credentials: CredentialsBox) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app over the real database, reached in-process."""
    app = create_app(db=clean_db, credentials=credentials, max_body_bytes=16 * 1024)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://gateway",
    ) as client:
        yield client
