"""The colleague's page in a real headless browser (Debian's chromium and chromedriver, driven
by Selenium) against the gateway and the network simulator, each a real uvicorn server on
loopback over the test PostgreSQL: open the link, connect X through the simulator's consent
page, switch to review, edit (too long, then fine), approve, skip, withdraw. The database is
checked after each step, and a screenshot of each state is written to the run's artefacts
($CHORUS_ARTIFACTS, else .run/artifacts/colleague-page/ in the checkout). If chromium cannot
start, the test fails."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import select

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.models import Account, Ambassador, ConsentEvent, Share
from chorus.common.ops import EmbeddedServer
from chorus.gateway.app import create_app
from chorus.netsim import SimState
from chorus.netsim import create_app as create_sim
from chorus.networks import AppCredentials
from tests.factories import Org, make_campaign, make_share

pytestmark = pytest.mark.integration

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _artifacts() -> Path:
    configured = os.environ.get("CHORUS_ARTIFACTS")
    folder = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[2] / ".run" / "artifacts" / "colleague-page"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Served:
    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]


async def _serve(app: FastAPI) -> Served:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = EmbeddedServer(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.02)
    return Served(url=f"http://127.0.0.1:{port}", server=server, task=task)


async def _stop(served: Served) -> None:
    served.server.should_exit = True
    await served.task


class Browser:
    """Selenium's blocking calls, each in a thread so the servers on this loop keep serving."""

    def __init__(self, driver: webdriver.Chrome, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        self.shots: list[Path] = []

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def get(self, url: str) -> None:
        await self.run(self.driver.get, url)

    async def find(self, css: str) -> WebElement:
        return await self.run(self.driver.find_element, By.CSS_SELECTOR, css)

    async def click(self, css: str) -> None:
        element = await self.find(css)
        await self.run(element.click)

    async def submit(self, css: str) -> None:
        """Click what leaves the page, and wait (with a deadline) until the next one is shown."""
        old = await self.find("html")
        await self.click(css)
        waiting = WebDriverWait(self.driver, 20)
        await self.run(waiting.until, expected_conditions.staleness_of(old))
        await self.run(
            waiting.until,
            lambda driver: driver.execute_script("return document.readyState") == "complete",
        )

    async def text(self, css: str = "body") -> str:
        element = await self.find(css)
        return str(await self.run(lambda: element.text))

    async def fill(self, css: str, value: str) -> None:
        element = await self.find(css)
        await self.run(element.clear)
        await self.run(element.send_keys, value)

    async def shot(self, name: str) -> None:
        path = self.folder / f"colleague-page-{len(self.shots) + 1:02d}-{name}.png"
        # The whole page, not only the phone-sized window.
        shot = await self.run(
            self.driver.execute_cdp_cmd,
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        self.shots.append(path)


def _chrome() -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    # A phone's width: the page must read well there.
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=412,915",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    driver = await asyncio.to_thread(_chrome)  # no chromium: this raises, the test fails
    try:
        yield Browser(driver, _artifacts())
    finally:
        await asyncio.to_thread(driver.quit)


@dataclass
class Stack:
    gateway: str
    sim: str
    db: Database


@pytest.fixture
async def stack(clean_db: Database, keyring: Keyring) -> AsyncIterator[Stack]:
    sim = await _serve(create_sim(SimState()))
    http = NetworkHttp(policy=AddressPolicy(allow_private=True), deadline=10, max_bytes=1 << 20)
    app = create_app(
        db=clean_db,
        keyring=keyring,
        address_policy=AddressPolicy(allow_private=True),
        network_http=http,
    )
    gateway = await _serve(app)
    app.state.public_url = gateway.url
    async with httpx.AsyncClient(base_url=sim.url) as client:
        made = await client.post(
            "/_sim/apps",
            json={"network": "x", "redirect_uris": [f"{gateway.url}/v1/connections/callback"]},
        )
        made.raise_for_status()
    app.state.network_apps = {
        Network.X: AppCredentials(
            client_id=made.json()["client_id"],
            client_secret=made.json()["client_secret"],
            api_url=f"{sim.url}/x",
            auth_url=f"{sim.url}/x/i/oauth2/authorize",
        )
    }
    try:
        yield Stack(gateway=gateway.url, sim=sim.url, db=clean_db)
    finally:
        await _stop(gateway)
        await _stop(sim)
        await http.aclose()


async def _one(db: Database, model: type[T], *where: Any) -> T:
    async with db.sessions() as session:
        rows = list(await session.scalars(select(model).where(*where)))
    assert len(rows) == 1, rows
    found: T = rows[0]
    return found


async def _ledger(db: Database) -> list[tuple[str, str | None, str]]:
    async with db.sessions() as session:
        rows = await session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        return [(r.action, r.mode, r.actor) for r in rows]


async def _share(db: Database, share_id: uuid.UUID) -> tuple[str, str | None, str | None]:
    share = await _one(db, Share, Share.id == share_id)
    return share.status, share.reason, share.text_override


@pytest.mark.timeout(120)
async def test_a_colleague_connects_consents_reviews_and_withdraws_in_a_browser(
    stack: Stack, browser: Browser, org: Org
) -> None:
    auth = {"Authorization": f"Bearer {org.api_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway, headers=auth) as api:
        made = await api.put("/v1/ambassadors/cms-7", json={"display_name": "Alice Martin"})
        assert made.status_code == 200, made.text
        link = (await api.post("/v1/ambassadors/cms-7/page-link")).json()["url"]
    async with httpx.AsyncClient(base_url=stack.sim) as sim:
        x_account = (
            await sim.post("/_sim/accounts", json={"network": "x", "username": "alice"})
        ).json()[0]
    ambassador = await _one(stack.db, Ambassador, Ambassador.org_id == org.id)

    # The link opens the page: X is not connected.
    await browser.get(link)
    assert "Hello Alice Martin" in await browser.text("h1")
    assert "not connected" in await browser.text("#network-x")
    await browser.shot("opened")

    # Connect X: the simulator's consent page, Allow, and back to the page.
    await browser.submit("#network-x button[name=connect]")
    assert "wants to use your x account" in await browser.text("h1")
    await browser.shot("network-consent-page")
    await browser.submit("li a")
    assert "Connected." in await browser.text("#notice")
    account = await _one(stack.db, Account, Account.ambassador_id == ambassador.id)
    assert (account.network, account.status, account.mode) == ("x", "connected", "auto")
    assert account.remote_account_id == x_account["id"]
    assert await _ledger(stack.db) == [("granted", "auto", "colleague")]
    assert "connected" in await browser.text("#network-x .state")
    await browser.shot("connected")

    # Consent auto -> review.
    await browser.click("#network-x input[value=review]")
    await browser.submit("#network-x button[name=save]")
    assert "Saved" in await browser.text("#notice")
    assert (await _one(stack.db, Account, Account.id == account.id)).mode == "review"
    assert (await _ledger(stack.db))[-1] == ("changed", "review", "colleague")
    await browser.shot("review-mode")

    # Two shares wait for review (staging writes them so for review-first accounts).
    soon = datetime.now(UTC) + timedelta(hours=3)
    shares = []
    for message in ("Our product launch", "Our hiring day"):
        campaign = await make_campaign(stack.db, org=org, message=message, networks=("x",))
        shares.append(
            await make_share(
                stack.db,
                org=org,
                campaign_id=campaign,
                account_id=account.id,
                network="x",
                status="awaiting_review",
                planned_at=soon,
            )
        )
    first, second = (f"#share-{s}" for s in shares)
    await browser.get(link)
    assert "Our product launch\n\nhttps://example.com/a" in await browser.text(f"{first} .post")
    await browser.shot("pending")

    # Too long for X: the error by the form, nothing stored.
    await browser.fill(f"{first} textarea", "far too long " * 30)
    await browser.submit(f"{first} button[name=edit]")
    assert "the limit is 280" in await browser.text(f"{first} [role=alert]")
    assert await _share(stack.db, shares[0]) == ("awaiting_review", None, None)
    await browser.shot("edit-too-long")
    await browser.fill(f"{first} textarea", "Proud of this launch")
    await browser.submit(f"{first} button[name=edit]")
    assert await _share(stack.db, shares[0]) == ("awaiting_review", None, "Proud of this launch")
    assert "Proud of this launch" in await browser.text(f"{first} .post")
    await browser.shot("edited")

    await browser.submit(f"{first} button[name=approve]")
    assert await _share(stack.db, shares[0]) == ("planned", None, "Proud of this launch")
    assert "Planned" in await browser.text(first)
    await browser.shot("approved")

    await browser.submit(f"{second} button[name=skip]")
    assert await _share(stack.db, shares[1]) == ("skipped", "skipped by colleague", None)
    assert "Skipped" in await browser.text("#notice")
    await browser.shot("skipped")

    # Withdraw: disconnected, credentials erased, the approved share cancelled.
    await browser.submit("#network-x button[name=withdraw]")
    assert "Consent withdrawn" in await browser.text("#notice")
    withdrawn = await _one(stack.db, Account, Account.id == account.id)
    assert withdrawn.status == "revoked" and withdrawn.credentials == b""
    assert (await _ledger(stack.db))[-1] == ("withdrawn", None, "colleague")
    assert (await _share(stack.db, shares[0]))[0] == "cancelled"
    assert "not connected" in await browser.text("#network-x")
    await browser.shot("withdrawn")

    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in browser.shots)
