"""The public form against floods: anonymous creates are limited per address across instances, and the same
form sent again is one request, answered like the first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import HTTPConnection

from service.app import create_app
from service.caller import client_address
from service.settings import Settings
from tests.calls import Calls, racing
from tests.cognito import UserPool
from tests.helpers import FORM, ManualClock, count_items, served
from tests.process import running_service

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ANONYMOUS = {"Authorization": ""}
CREATED = "Successfully added new service request"
LIMIT = 3
WINDOW = 60


def form(n: int) -> dict[str, str]:
    """The n-th of many different forms."""
    return {**FORM, "service_description": f"{FORM['service_description']}, visit {n}"}


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_create_limit": LIMIT, "public_create_window_seconds": WINDOW})


@pytest.fixture
async def limited_api(limited: Settings, table: str, clock: ManualClock, user_pool: UserPool) -> Any:
    async with served(create_app(limited, clock=clock), token=user_pool.token()) as client:
        yield client


async def test_anonymous_creates_over_the_limit_are_429_with_retry_after_and_store_nothing(
    limited_api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, clock: ManualClock
) -> None:
    clock.advance(20)  # 20.5 s into a window of 60
    for n in range(LIMIT):
        response = await limited_api.post("/service-request", json=form(n), headers=ANONYMOUS)
        assert (response.status_code, response.json()) == (201, CREATED)
    refused = await limited_api.post("/service-request", json=form(LIMIT), headers=ANONYMOUS)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_requests"
    assert refused.headers["retry-after"] == "40"
    assert await count_items(dynamodb, table) == LIMIT

    clock.advance(40)  # the next window
    again = await limited_api.post("/service-request", json=form(LIMIT), headers=ANONYMOUS)
    assert again.status_code == 201
    assert await count_items(dynamodb, table) == LIMIT + 1


async def test_the_limit_holds_across_instances(
    limited: Settings, table: str, clock: ManualClock, dynamodb: DynamoDBClient
) -> None:
    """Two instances (two apps, as two Lambda containers) count one address together."""
    async with (
        served(create_app(limited, clock=clock)) as one,
        served(create_app(limited, clock=clock)) as other,
    ):
        answers = [
            await (one if n % 2 else other).post("/service-request", json=form(n)) for n in range(LIMIT + 1)
        ]
    assert [a.status_code for a in answers] == [201] * LIMIT + [429]
    assert await count_items(dynamodb, table) == LIMIT


async def test_technicians_are_not_limited(limited_api: httpx.AsyncClient) -> None:
    answers = [await limited_api.post("/service-request", json=form(n)) for n in range(2 * LIMIT)]
    assert {a.status_code for a in answers} == {201}


async def test_credentials_found_wanting_make_an_anonymous_caller_not_a_refusal(
    limited_api: httpx.AsyncClient,
) -> None:
    bad = {"Authorization": "Bearer not.a.token"}
    answers = [
        await limited_api.post("/service-request", json=form(n), headers=bad) for n in range(LIMIT + 1)
    ]
    assert [a.status_code for a in answers] == [201] * LIMIT + [429]


async def test_refused_forms_are_not_counted(limited_api: httpx.AsyncClient) -> None:
    for _ in range(2 * LIMIT):
        invalid = await limited_api.post("/service-request", json={**FORM, "phone_number": "none"})
        assert invalid.status_code == 422
    answers = [
        await limited_api.post("/service-request", json=form(n), headers=ANONYMOUS) for n in range(LIMIT)
    ]
    assert {a.status_code for a in answers} == {201}


async def test_the_same_form_sent_again_is_one_request_answered_like_the_first(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """A double click, a reload, a retry: the same plate (as typed, in any spelling that means the same
    vehicle), phone number and description."""
    typed = [
        FORM,
        {**FORM, "license_plate": " 1j1957 "},
        {**FORM, "service_description": f" {FORM['service_description']}\n"},
    ]
    answers = [await api.post("/service-request", json=sent, headers=ANONYMOUS) for sent in typed]
    assert [(a.status_code, a.json()) for a in answers] == [(201, CREATED)] * 3
    assert await count_items(dynamodb, table) == 1


async def test_a_double_click_is_one_request(
    app: FastAPI, app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    """The second of two forms sent at once waits for the first one's request, then answers like it."""
    answers = await racing(
        await Calls.of(app),
        settings,
        app_api.post("/service-request", json=FORM, headers=ANONYMOUS),
        app_api.post("/service-request", json=FORM, headers=ANONYMOUS),
    )
    assert [(a.status_code, a.json()) for a in answers] == [(201, CREATED)] * 2
    assert await count_items(dynamodb, settings.table_name) == 1


async def test_the_same_form_after_the_duplicate_window_is_a_new_request(
    app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings, clock: ManualClock
) -> None:
    assert (await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    clock.advance(settings.duplicate_window_seconds - 1)
    assert (await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    assert await count_items(dynamodb, settings.table_name) == 1
    clock.advance(2)  # records expire on whole seconds
    assert (await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    assert await count_items(dynamodb, settings.table_name) == 2


async def test_forms_that_differ_are_different_requests(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    for changed in (
        {"phone_number": "208-867-5310"},
        {"license_plate": "1J1958"},
        {"service_description": "Tires"},
    ):
        assert (await api.post("/service-request", json={**FORM, **changed})).status_code == 201
    assert (await api.post("/service-request", json=FORM)).status_code == 201
    assert await count_items(dynamodb, table) == 4


async def test_the_same_form_with_other_idempotency_keys_is_still_one_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    for key in ("first-key-0001", "second-key-0002"):
        response = await api.post("/service-request", json=FORM, headers={"Idempotency-Key": key})
        assert (response.status_code, response.json()) == (201, CREATED)
    assert await count_items(dynamodb, table) == 1
    # Either key, sent again, stands for that one request.
    reused = await api.post(
        "/service-request", json={**FORM, "phone_number": "1"}, headers={"Idempotency-Key": "second-key-0002"}
    )
    assert reused.status_code == 422


def _connection(host: str | None) -> HTTPConnection:
    client = (host, 50_000) if host is not None else None
    return HTTPConnection({"type": "http", "headers": [], "client": client})


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("203.0.113.7, 198.51.100.1", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_addresses_are_counted_by_what_a_caller_cannot_vary_cheaply(
    host: str | None, counted_as: str
) -> None:
    """An IPv6 caller picks any address of its /64 at will, so the network counts; text that is no
    address (a Unix socket, an unparsed header) counts as one shared caller."""
    assert client_address(_connection(host)) == counted_as


def _serving(settings: Settings, forwarded_allow_ips: str) -> Any:
    """The service as `make run` starts it, on the test's tables, limited to two anonymous forms."""
    assert settings.dynamodb_endpoint is not None
    return running_service(
        DYNAMODB_MODE="endpoint",
        AWS_ENDPOINT_URL_DYNAMODB=settings.dynamodb_endpoint,
        AWS_REGION=settings.aws_region,
        TABLE_NAME=settings.table_name,
        IDEMPOTENCY_TABLE_NAME=settings.idempotency_table_name,
        AUTH_MODE="none",
        PUBLIC_CREATE_LIMIT="2",
        FORWARDED_ALLOW_IPS=forwarded_allow_ips,
    )


def test_under_uvicorn_x_forwarded_for_is_ignored_from_a_peer_not_in_forwarded_allow_ips(
    settings: Settings, table: str
) -> None:
    with _serving(settings, forwarded_allow_ips="192.0.2.1") as service:
        answers = [
            httpx.post(
                f"{service.url}/service-request", json=form(n), headers={"X-Forwarded-For": f"10.0.0.{n}"}
            )
            for n in range(3)
        ]
    assert [a.status_code for a in answers] == [201, 201, 429]


def test_under_uvicorn_behind_a_proxy_in_forwarded_allow_ips_the_address_it_saw_counts(
    settings: Settings, table: str
) -> None:
    """The proxy appends the address it saw to what the caller wrote: the last address not in
    FORWARDED_ALLOW_IPS counts, whatever the caller wrote before it."""
    with _serving(settings, forwarded_allow_ips="127.0.0.1") as service:
        spoofed = [
            httpx.post(
                f"{service.url}/service-request",
                json=form(n),
                headers={"X-Forwarded-For": f"10.0.0.{n}, 198.51.100.7"},
            )
            for n in range(3)
        ]
        another_customer = httpx.post(
            f"{service.url}/service-request", json=form(3), headers={"X-Forwarded-For": "198.51.100.8"}
        )
    assert [a.status_code for a in spoofed] == [201, 201, 429]
    assert another_customer.status_code == 201
