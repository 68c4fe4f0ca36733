"""A real browser on another origin makes the website's calls and types into its form; a page elsewhere
gets nothing from a service that checks no tokens."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from service.core.settings import Settings
from service.storage.backend import open_client
from tests.support.chromium import BROWSER_TEST, CHROMIUM, CHROMIUM_ARGS
from tests.support.cognito import CLIENT_ID, POOL_ID, UserPool
from tests.support.helpers import FORM, make_settings
from tests.support.process import ServiceProcess, running_service
from tests.support.servers import free_port

# No name resolves but to 127.0.0.1: `localhost`, and `evil.test` for a page on another machine; any other
# name is not found, so nothing leaves this machine. (Playwright's request routing would do it too, but it
# answers CORS preflights itself and so would hide what the service grants.)
STRANGER = "evil.test"
RESOLVER_RULES = f"MAP localhost 127.0.0.1, MAP {STRANGER} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
CHROMIUM_FLAGS = [*CHROMIUM_ARGS, f"--host-resolver-rules={RESOLVER_RULES}"]
PAGES = Path(__file__).resolve().parents[1] / "browser"

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
        # The page lists the public requests again right after the technician's update, which the
        # public list's copy would show only up to its interval later (tests/http/test_public_list.py).
        PUBLIC_LIST_CACHE_SECONDS="0",
    ) as running:
        yield running


@asynccontextmanager
async def _open_page(
    origin: str, api: str, token: str | None = None, *, name: str = "website.html"
) -> AsyncIterator[Page]:
    """The test page `name` in headless Chromium, from `origin`, with every other host unreachable."""
    query = {"api": api, **({"token": token} if token else {})}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{origin}/{name}?{urlencode(query)}")
            await page.wait_for_function("window.ready === true", timeout=30_000)
            yield page
        finally:
            await browser.close()


async def _run_calls(origin: str, api: str, token: str) -> dict[str, Any]:
    """Every call the website makes, from `origin`; the page's results."""
    async with _open_page(origin, api, token) as page:
        results: dict[str, Any] = await page.evaluate("runCalls()")
        results["rendered"] = await page.inner_text("#requests")
        return results


async def test_the_websites_calls_work_from_its_origin(
    service: ServiceProcess, page_origins: tuple[str, str], user_pool: UserPool
) -> None:
    website, _ = page_origins
    results = await _run_calls(website, service.url, user_pool.token())

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


async def test_another_origin_may_use_the_public_routes_but_not_the_technicians(
    service: ServiceProcess, page_origins: tuple[str, str], user_pool: UserPool
) -> None:
    _, stranger = page_origins
    results = await _run_calls(stranger, service.url, user_pool.token())
    assert results["create"] == {"ok": True, "status": 201, "body": "Successfully added new service request"}
    assert sorted(r["service_id"] for r in results["publicList"]["body"]) == ["1", "2"]
    for call in ("adminList", "update", "history"):
        assert results[call]["error"] == "TypeError: Failed to fetch", call
    # The preflight failed, so the technician's update never reached the service.
    technician = {"Authorization": f"Bearer {user_pool.token()}"}
    async with httpx.AsyncClient(base_url=service.url, headers=technician) as api:
        assert (await api.get("/requests/8B1111/1")).json()["service_status"] == "Being Serviced"
        assert len((await api.get("/vehicles/7C2020/requests")).json()["items"]) == 1


# What people type, as they type it: extensions and words in phone numbers, markup characters, several
# lines, other scripts, plates with dots and double spaces.
TYPED = [
    ("Brakes squeal > 30 mph", "208-555-1234 ext 5", "abc 123"),
    ('<blinking>text</blinking> & "quotes"', "208.555.0101 cell", "a.b  12"),
    ("Line one\nLine two\n\nÖlwechsel, bitte 🚗", "208-555-0106 x12", "münchen 1"),
    ("刹车有异响，请检查", "+86 10 1234 5678", "京A·12345"),
    ("Check <b>engine</b> light", "(208) 555-0199 / 208 555 0100", "  id 1-2345  "),
    ("No phone: please write to jo@example.com", "none", "jo 1"),
]


async def test_a_customer_types_requests_into_the_form_and_every_one_gets_through(
    page_origins: tuple[str, str],
) -> None:
    """As `make run` starts it, with no settings: the website's origin is any origin."""
    website, _ = page_origins
    with running_service() as service:
        async with _open_page(website, service.url) as page:
            for number, (description, phone, plate) in enumerate(TYPED, start=1):
                await page.fill("#service_description", description)
                await page.fill("#phone_number", phone)
                await page.fill("#license_plate", plate)
                await page.click("button[type=submit]")
                await page.wait_for_function(f"window.submitted === {number}", timeout=30_000)
                assert await page.inner_text("#message") == "Successfully added new service request"
                assert await page.input_value("#service_description") == "", "the form was reset"
            await page.evaluate("renderLists()")
            admin = await page.inner_text("#admin")
            elements = await page.evaluate("document.querySelectorAll('#admin blinking, #admin b').length")
        async with httpx.AsyncClient(base_url=service.url) as api:
            stored = [
                (await api.get(f"/vehicles/{quote(p, safe='')}/requests")).json()["items"] for *_, p in TYPED
            ]
    assert [[i["service_description"] for i in items] for items in stored] == [[d] for d, *_ in TYPED]
    assert [[i["phone_number"] for i in items] for items in stored] == [[p] for _, p, _ in TYPED]
    for description, *_ in TYPED:
        assert " ".join(description.split()) in " ".join(admin.split()), "shown as typed, as text"
    assert elements == 0, "no typed markup became an element"


# Plates a web address treats specially unless they are percent-encoded.
ADDRESSABLE = [
    "AB/12",
    "A?B",
    "A#B",
    "100%",
    "%2E%2E",
    "A\\B",
    ".A",
    "A/../B",
    "../A",
    "/",
    ". .",
    "\u03aa\u03011",
]


async def test_every_accepted_plate_is_reachable_from_the_address_bar(page_origins: tuple[str, str]) -> None:
    """By the `Location` the service answered and by the plate encoded as a page encodes it."""
    website, _ = page_origins
    with running_service() as service:
        async with httpx.AsyncClient(base_url=service.url) as api:
            created = [
                await api.post("/requests", json={**FORM, "license_plate": plate}) for plate in ADDRESSABLE
            ]
            # Only dots: an address reads `.` and `..` (`%2E%2E` too) as steps in its path.
            dots = [await api.post("/requests", json={**FORM, "license_plate": p}) for p in (".", "..")]
        assert [c.status_code for c in created] == [201] * len(ADDRESSABLE)
        assert [d.status_code for d in dots] == [422, 422]
        async with _open_page(website, service.url) as page:
            for plate, answer in zip(ADDRESSABLE, created, strict=True):
                item = answer.json()
                reached = await page.goto(answer.headers["Location"])
                assert reached is not None
                assert await reached.json() == item, plate
                segment = await page.evaluate("(plate) => encodeURIComponent(plate)", plate)
                for path in (
                    f"/vehicles/{segment}/requests",
                    f"/admin-service-request/vehicle-history/{segment}",
                ):
                    listed = await page.goto(f"{service.url}{path}")
                    assert listed is not None
                    body = await listed.json()
                    items = body["items"] if isinstance(body, dict) else body
                    assert [i["service_id"] for i in items] == [item["service_id"]], (plate, path)


def _port(origin: str) -> str:
    return origin.rsplit(":", 1)[1]


async def _table(embedded: str) -> list[dict[str, Any]]:
    """Every item of the table in the service's embedded DynamoDB, read behind its back."""
    settings = make_settings(embedded, table_name=Settings.model_fields["table_name"].default)
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        items = (await client.scan(TableName=settings.table_name, ConsistentRead=True))["Items"]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _requests_served(output: str) -> list[tuple[str, str, int]]:
    """Each request's method, path and status, from the service's log lines."""
    served = []
    for line in output.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("logger") == "service.requests":
            served.append((record["method"], record["path"], record["status"]))
    return served


async def test_without_token_checks_a_page_elsewhere_reads_and_changes_nothing(
    page_origins: tuple[str, str],
) -> None:
    """As `make run` starts it (AUTH_MODE=none, no CORS_ORIGINS), while a page of another origin, open in
    the same browser, tries every technicians' route it can reach, with and without asking first."""
    stranger = f"http://{STRANGER}:{_port(page_origins[1])}"
    embedded = f"http://127.0.0.1:{free_port()}"
    with running_service(EMBEDDED_PORT=_port(embedded)) as service:
        before = await _table(embedded)
        async with _open_page(stranger, service.url, name="stranger.html") as page:
            results: dict[str, Any] = await page.evaluate("attack()")
        after = await _table(embedded)
        service.stop()

    assert results["origin"] == stranger
    assert sorted(r["service_id"] for r in results["publicList"]["body"]) == ["1", "2"], "any page reads it"
    assert results["form"] == "loaded"
    for source in ("page", "sandboxed"):
        attempts = results[source]
        for name in ("active", "adminList", "history", "remove", "update"):
            assert attempts[name] == {"error": "TypeError: Failed to fetch"}, (source, name)
        for name in ("blindList", "blindCreate"):
            assert attempts[name] == {"type": "opaque", "status": 0, "body": ""}, (source, name)
    keys = [(i["license_plate"]["S"], i["service_id"]["S"]) for i in before]
    assert ("1J1957", "2") in keys, "the lab's row the page tries to delete"
    assert after == before

    # In the order the page sent them: each preflight was refused, so no DELETE or PUT followed; every
    # request with the page's Origin was refused unread. A GET without CORS (an image, a no-cors fetch)
    # carries no Origin, so it is answered as curl's would be, and the browser hands the page nothing.
    from_a_page = [
        ("GET", "/requests/active", 403),
        ("GET", "/admin-service-request", 403),
        ("GET", "/vehicles/1J1957/requests", 403),
        ("OPTIONS", "/requests/1J1957/2", 403),
        ("OPTIONS", "/admin-service-request/2", 403),
        ("GET", "/requests/active", 200),
        ("POST", "/requests", 403),
    ]
    served = _requests_served(service.output)
    technicians = [request for request in served if request[1] not in ("/service-request", "/readyz")]
    assert technicians == [*from_a_page, ("POST", "/requests", 403), *from_a_page]


async def test_without_token_checks_the_website_works_from_localhost(page_origins: tuple[str, str]) -> None:
    """As `make run` starts it, the website served from `localhost`: every call, the technicians' too."""
    website = f"http://localhost:{_port(page_origins[0])}"
    with running_service(PUBLIC_LIST_CACHE_SECONDS="0") as service:
        results = await _run_calls(website, service.url, token="")

    assert sorted(r["service_id"] for r in results["publicList"]["body"]) == ["1", "2"]
    assert results["create"] == {"ok": True, "status": 201, "body": "Successfully added new service request"}
    admin = {i["license_plate"]: i for i in results["adminList"]["body"]}
    assert sorted(admin) == ["1J1957", "7C2020", "8B1111"]
    assert results["update"] == {"ok": True, "status": 200, "body": "Successfully updated service request"}
    (history,) = results["history"]["body"]
    assert history["service_status"] == "Completed"
    assert results["adminWithoutToken"]["status"] == 200, "no token checks"
    assert results["rendered"] == "2 (***) ***-5309 Accepted"
