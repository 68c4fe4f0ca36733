"""A real browser on another origin makes the website's calls: allowed for its origin, refused for others."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.chromium import BROWSER_TEST, CHROMIUM, CHROMIUM_ARGS
from tests.cognito import CLIENT_ID, POOL_ID, UserPool
from tests.process import ServiceProcess, running_service

# No name resolves but 127.0.0.1: nothing leaves this machine. (Playwright's request routing would do it
# too, but it answers CORS preflights itself and so would hide what the service grants.)
CHROMIUM_FLAGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
PAGES = Path(__file__).parent / "browser"

pytestmark = BROWSER_TEST


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_origins() -> Iterator[tuple[str, str]]:
    """The test page served from two origins: the website's, and a stranger's."""
    handler = functools.partial(_QuietHandler, directory=str(PAGES))
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        website, stranger = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
        yield website, stranger
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def service(page_origins: tuple[str, str], user_pool: UserPool) -> Iterator[ServiceProcess]:
    website, _ = page_origins
    with running_service(
        DYNAMODB_MODE="embedded",
        AUTH_MODE="jwt",
        COGNITO_USER_POOL_ID=POOL_ID,
        COGNITO_CLIENT_ID=CLIENT_ID,
        JWKS_URL=user_pool.jwks_url,
        CORS_ORIGINS=website,
    ) as running:
        yield running


async def _run_page(origin: str, api: str, token: str) -> dict[str, Any]:
    """Open the page in headless Chromium, with every other host unreachable; the page's results."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{origin}/website.html?{urlencode({'api': api, 'token': token})}")
            await page.wait_for_function("window.done === true", timeout=30_000)
            results: dict[str, Any] = await page.evaluate("window.results")
            results["rendered"] = await page.inner_text("#requests")
            return results
        finally:
            await browser.close()


async def test_the_websites_calls_work_from_its_origin(
    service: ServiceProcess, page_origins: tuple[str, str], user_pool: UserPool
) -> None:
    website, _ = page_origins
    results = await _run_page(website, service.url, user_pool.token())

    assert sorted(r["service_id"] for r in results["publicList"]["body"]) == ["1", "2"]
    assert results["create"] == {"ok": True, "status": 201, "body": "Successfully added new service request"}
    admin = {i["license_plate"]: i for i in results["adminList"]["body"]}
    assert sorted(admin) == ["1J1957", "7C2020", "8B1111"]
    assert admin["7C2020"]["service_status"] == "New Request"
    assert results["update"] == {"ok": True, "status": 200, "body": "Successfully updated service request"}
    (history,) = results["history"]["body"]
    assert history["service_status"] == "Completed"
    assert "completion_date" in history
    assert results["adminWithoutToken"]["status"] == 401
    assert results["publicListAfter"]["body"] == [
        {"service_id": "2", "service_status": "Accepted", "phone_number": "5309"}
    ]
    assert results["rendered"] == "2 (***) ***-5309 Accepted"


async def test_the_browser_refuses_answers_to_another_origin(
    service: ServiceProcess, page_origins: tuple[str, str], user_pool: UserPool
) -> None:
    _, stranger = page_origins
    results = await _run_page(stranger, service.url, user_pool.token())
    for call in ("publicList", "create", "adminList", "update", "history"):
        assert results[call]["error"] == "TypeError: Failed to fetch", call
    # The preflight failed, so the writes never reached the service.
    technician = {"Authorization": f"Bearer {user_pool.token()}"}
    async with httpx.AsyncClient(base_url=service.url, headers=technician) as api:
        assert (await api.get("/vehicles/7C2020/requests")).json()["items"] == []
        assert (await api.get("/requests/8B1111/1")).json()["service_status"] == "Being Serviced"
