"""/docs and /redoc render in a real browser with every outside host unreachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright

from tests.support.chromium import BROWSER_TEST, CHROMIUM, CHROMIUM_ARGS
from tests.support.process import ServiceProcess, running_service

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
pytestmark = BROWSER_TEST


@pytest.fixture(scope="module")
def server() -> Any:
    with running_service() as served:
        yield served


def operations(served: ServiceProcess) -> set[tuple[str, str]]:
    spec = httpx.get(f"{served.url}/openapi.json").json()
    return {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}


async def open_offline(page_path: str, served: ServiceProcess, tmp_path: Path, check: Any) -> list[str]:
    """Open `page_path` with only 127.0.0.1 reachable, run `check(page)`; returns the URLs refused."""
    refused: list[str] = []
    errors: list[str] = []

    async def only_this_machine(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            await context.route("**/*", only_this_machine)
            page = await context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{served.url}{page_path}", wait_until="networkidle")
            await check(page)
        finally:
            await context.close()
    assert errors == []
    return refused


async def test_swagger_ui_renders_every_operation_offline(server: ServiceProcess, tmp_path: Path) -> None:
    expected = operations(server)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "docs-offline.png"

    async def check(page: Page) -> None:
        await page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        blocks = page.locator(".opblock-summary")
        assert await blocks.count() == len(expected)
        shown = set()
        for i in range(await blocks.count()):
            block = blocks.nth(i)
            method = (await block.locator(".opblock-summary-method").inner_text()).strip()
            path = await block.locator(".opblock-summary-path").get_attribute("data-path")
            shown.add((method.upper(), path))
        assert shown == expected
        assert await page.title() == "Quick Oil Change and Repair: service requests - Swagger UI"
        await page.screenshot(path=screenshot, full_page=True)

    refused = await open_offline("/docs", server, tmp_path, check)
    print(f"screenshot of /docs: {screenshot}")
    assert refused == []


async def test_redoc_renders_every_operation_offline(server: ServiceProcess, tmp_path: Path) -> None:
    expected = operations(server)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "redoc-offline.png"

    async def check(page: Page) -> None:
        await page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
        sections = page.locator("[data-section-id^='operation/']")
        assert await sections.count() == len(expected)
        await page.screenshot(path=screenshot)

    refused = await open_offline("/redoc", server, tmp_path, check)
    print(f"screenshot of /redoc: {screenshot}")
    assert refused == []
