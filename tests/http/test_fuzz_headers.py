"""The headers the service reads, fuzzed: any value of If-Match, Idempotency-Key, X-Request-ID or Host is a
documented answer, never a 5xx; a refused write changes nothing, and no redirect carries the Host sent.

Values are any bytes a header can carry (everything but CR and LF), and runs of the pieces each header's
grammar is made of, with look-alikes such as '²' among them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from service.core.settings import Settings
from tests.support.cognito import UserPool
from tests.support.helpers import FORM, api_client, new_request

pytestmark = pytest.mark.fuzz

EXAMPLES = 60
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What the headers' grammars are made of, and look-alikes of it.
PIECES = [
    *[bytes([c]) for c in b'0123456789"*,;:/.[]@%\\ \t-_'],
    *[b"W/", b"localhost", b"127.0.0.1", b"evil.example", b"::1", b"\x00", b"\x7f", b"\x85", b"\xa0"],
    *[b"\xbd", b"\xff", "٣".encode(), "\u2028".encode(), b"%0A", b"a" * 300],
]
# Numbers, with the latin-1 characters str.isdigit takes for digits ('²', '³', '¹').
DIGITS = [*[bytes([c]) for c in b"0123456789"], b"\xb2", b"\xb3", b"\xb9"]


def _runs(pieces: list[bytes], most: int) -> st.SearchStrategy[bytes]:
    return st.lists(st.sampled_from(pieces), max_size=most).map(b"".join)


def _tags(pieces: list[bytes], most: int) -> st.SearchStrategy[bytes]:
    """Comma-separated lists of quoted runs of `pieces`: entity tags and near misses."""
    return st.lists(_runs(pieces, most).map(lambda tag: b'"' + tag + b'"'), min_size=1, max_size=3).map(
        b", ".join
    )


# Any bytes a header value can carry (all but CR and LF), and runs of the pieces above.
VALUES = st.one_of(
    st.binary(max_size=400).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b"")),
    _runs(PIECES, 24),
    _tags(PIECES, 6),
)
# If-Match names versions: numbers and their look-alikes first.
IF_MATCH_VALUES = st.one_of(_tags(DIGITS, 4), VALUES)
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class Client:
    """A technician's client of the app in process, called from plain (hypothesis) test functions: the
    app and its lifespan run on an event loop of their own."""

    def __init__(self, settings: Settings, token: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._stack = AsyncExitStack()
        self._api = self._run(self._stack.enter_async_context(api_client(settings, token=token)))

    def _run(self, call: Any) -> Any:
        return self._loop.run_until_complete(call)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        response: httpx.Response = self._run(self._api.request(method, path, **options))
        return response

    def close(self) -> None:
        self._run(self._stack.aclose())
        self._loop.close()


@pytest.fixture
def client(settings: Settings, table: str, user_pool: UserPool) -> Iterator[Client]:
    """The app in process, with two requests stored."""
    client = Client(settings, user_pool.token())
    try:
        for plate in ("8B1111", "1J1957"):
            assert (
                client.request("POST", "/requests", json=new_request(license_plate=plate)).status_code == 201
            )
        yield client
    finally:
        client.close()


def _documented(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"code", "message", "fields"}


def _item(client: Client, plate: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = client.request("GET", f"/vehicles/{plate}/requests").json()["items"]
    return items[0] if items else {}


@given(value=IF_MATCH_VALUES)
@example(value=b'"\xb2"')
@FUZZ
def test_any_if_match_is_a_documented_answer_and_a_refused_write_changes_nothing(
    client: Client, value: bytes
) -> None:
    before = _item(client, "8B1111")
    path = f"/requests/8B1111/{before.get('service_id', 'none')}"
    for method, url, body in (
        ("PATCH", path, {"service_description": "fuzzed"}),
        ("PUT", f"/admin-service-request/{before.get('service_id', 'none')}", {"license_plate": "8B1111"}),
    ):
        response = client.request(method, url, json=body, headers={b"If-Match": value})
        _documented(response)
        if response.status_code >= 400:
            assert _item(client, "8B1111") == before, (method, value)
        before = _item(client, "8B1111")
    response = client.request("DELETE", "/requests/1J1957/none", headers={b"If-Match": value})
    _documented(response)


@given(value=VALUES)
@example(value=b"\xb2" * 8)
@FUZZ
def test_any_idempotency_key_is_a_documented_answer(client: Client, value: bytes) -> None:
    for path, body in (("/requests", new_request(license_plate="IDEM1")), ("/service-request", FORM)):
        _documented(client.request("POST", path, json=body, headers={b"Idempotency-Key": value}))


@given(value=VALUES)
@example(value="r-1\x85forged".encode("latin-1"))
@FUZZ
def test_any_request_id_is_a_documented_answer_and_returned_only_when_sane(
    client: Client, value: bytes
) -> None:
    for method, path in (("GET", "/healthz"), ("GET", "/requests/active"), ("POST", "/service-request")):
        response = client.request(method, path, json=FORM, headers={b"X-Request-ID": value})
        _documented(response)
        returned = response.headers["x-request-id"]
        assert SANE_REQUEST_ID.fullmatch(returned)
        assert returned == value.decode("latin-1") or len(returned) == 26  # its own, or a new ULID


@given(value=VALUES)
@example(value=b"evil.example")
@FUZZ
def test_any_host_is_a_documented_answer_and_no_redirect_carries_it(client: Client, value: bytes) -> None:
    for method, path in (
        ("GET", "/requests/"),
        ("GET", "/service-request/"),
        ("POST", "/requests"),
        ("POST", "/service-request"),
        ("GET", "/admin-service-request"),
        ("OPTIONS", "/admin-service-request"),
    ):
        response = client.request(
            method,
            path,
            json=new_request(license_plate="HOST1"),
            headers={b"Host": value},
            follow_redirects=False,
        )
        _documented(response)
        if 300 <= response.status_code < 400:
            location = response.headers["location"]
            assert location.startswith("/"), location
            assert not location.startswith(("//", "/\\")), location
