"""The public form against floods: anonymous creates are limited per address across instances, and the same
form sent again, while its request is open, is one request, answered like the first."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import HTTPConnection

from service.core.settings import Settings
from service.http.app import create_app
from service.http.caller import Caller, client_address
from service.storage.idempotency import caller_key
from tests.support.calls import Calls, racing
from tests.support.cognito import UserPool
from tests.support.helpers import FORM, ManualClock, count_items, served
from tests.support.process import running_service

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
        invalid = await limited_api.post("/service-request", json={**FORM, "phone_number": ""})
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


async def _stored(dynamodb: DynamoDBClient, table: str) -> list[dict[str, str]]:
    """Every request in the table: its plate, id and status."""
    items = (await dynamodb.scan(TableName=table))["Items"]
    fields = ("license_plate", "service_id", "service_status")
    return sorted(
        ({name: item[name]["S"] for name in fields} for item in items), key=lambda i: i["service_id"]
    )


def _location(item: dict[str, str]) -> str:
    return f"/requests/{quote(item['license_plate'], safe='')}/{item['service_id']}"


async def test_the_same_form_after_its_request_was_deleted_is_stored_again(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """Answered as stored while nothing was, the customer would think the shop has the request."""
    assert (await api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    (first,) = await _stored(dynamodb, table)
    assert (await api.delete(_location(first))).status_code == 204
    again = await api.post("/service-request", json=FORM, headers=ANONYMOUS)
    assert (again.status_code, again.json()) == (201, CREATED)
    (stored,) = await _stored(dynamodb, table)
    assert stored["service_id"] != first["service_id"]
    # That request is now the one its repeats are answered.
    assert (await api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    assert await _stored(dynamodb, table) == [stored]


@pytest.mark.parametrize("closed", ["Completed", "Service Rejected", "service rejected"])
async def test_the_same_form_after_its_request_was_closed_is_a_new_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, closed: str
) -> None:
    assert (await api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    (first,) = await _stored(dynamodb, table)
    await dynamodb.update_item(
        TableName=table,
        Key={"license_plate": {"S": first["license_plate"]}, "service_id": {"S": first["service_id"]}},
        UpdateExpression="SET service_status = :s",
        ExpressionAttributeValues={":s": {"S": closed}},
    )
    again = await api.post("/service-request", json=FORM, headers=ANONYMOUS)
    assert (again.status_code, again.json()) == (201, CREATED)
    stored = await _stored(dynamodb, table)
    assert [item["service_status"] for item in stored] == [closed, "New Request"]
    assert (await api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    assert await _stored(dynamodb, table) == stored


async def test_the_same_form_while_its_request_is_worked_on_is_still_one_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    assert (await api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    (first,) = await _stored(dynamodb, table)
    changed = await api.patch(_location(first), json={"service_status": "Being Serviced"})
    assert changed.status_code == 200
    assert (await api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    assert await count_items(dynamodb, table) == 1


async def test_two_repeats_racing_after_the_request_was_deleted_store_one_new_request(
    app: FastAPI, app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    """The first repeat claims the form again and is held before it stores; the second waits for it."""
    assert (await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    (first,) = await _stored(dynamodb, settings.table_name)
    assert (await app_api.delete(_location(first))).status_code == 204
    answers = await racing(
        await Calls.of(app),
        settings,
        app_api.post("/service-request", json=FORM, headers=ANONYMOUS),
        app_api.post("/service-request", json=FORM, headers=ANONYMOUS),
    )
    assert [(a.status_code, a.json()) for a in answers] == [(201, CREATED)] * 2
    assert await count_items(dynamodb, settings.table_name) == 1


async def test_a_repeat_that_found_the_request_deleted_after_another_stored_it_anew_stores_nothing(
    app: FastAPI, app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    """Both repeats find the deleted request gone; the slower claims the form after the faster stored the
    new request, and is answered that one."""
    assert (await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    (first,) = await _stored(dynamodb, settings.table_name)
    assert (await app_api.delete(_location(first))).status_code == 204
    calls = await Calls.of(app)
    looked = calls.hold("GetItem", settings.table_name)
    slower = asyncio.ensure_future(app_api.post("/service-request", json=FORM, headers=ANONYMOUS))
    await looked.reached()
    faster = await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)
    (stored,) = await _stored(dynamodb, settings.table_name)
    looked.release()
    assert [(a.status_code, a.json()) for a in (faster, await slower)] == [(201, CREATED)] * 2
    assert await _stored(dynamodb, settings.table_name) == [stored]


@pytest.mark.atomic_writes("moto checks a write's condition and applies it to the item without a lock")
async def test_many_repeats_at_once_after_the_request_was_closed_store_one_new_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    assert (await api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    (first,) = await _stored(dynamodb, table)
    assert (await api.patch(_location(first), json={"service_status": "Completed"})).status_code == 200
    answers = await asyncio.gather(
        *(api.post("/service-request", json=FORM, headers=ANONYMOUS) for _ in range(10))
    )
    assert {(a.status_code, a.json()) for a in answers} == {(201, CREATED)}
    assert [item["service_status"] for item in await _stored(dynamodb, table)] == ["Completed", "New Request"]


async def test_a_new_key_with_the_form_of_a_deleted_request_stands_for_the_new_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    """The form's key no longer stands for the deleted request, so neither does a key sent with it."""
    first_key, new_key = {"Idempotency-Key": "first-key-0001"}, {"Idempotency-Key": "new-key-0002"}
    assert (
        await api.post("/service-request", json=FORM, headers={**first_key, **ANONYMOUS})
    ).status_code == 201
    (first,) = await _stored(dynamodb, settings.table_name)
    assert (await api.delete(_location(first))).status_code == 204
    # A replay of the first key is answered the request as recorded (an Idempotency-Key's promise).
    assert (
        await api.post("/service-request", json=FORM, headers={**first_key, **ANONYMOUS})
    ).status_code == 201
    assert await count_items(dynamodb, settings.table_name) == 0
    assert (
        await api.post("/service-request", json=FORM, headers={**new_key, **ANONYMOUS})
    ).status_code == 201
    (stored,) = await _stored(dynamodb, settings.table_name)
    record = await dynamodb.get_item(
        TableName=settings.idempotency_table_name,
        Key={
            "idempotency_key": {
                "S": caller_key(
                    new_key["Idempotency-Key"], "service-request", Caller.anonymous("127.0.0.1").name
                ).key
            }
        },
    )
    assert record["Item"]["outcome"]["M"]["service_id"] == {"S": stored["service_id"]}


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


async def test_a_form_counts_and_claims_in_one_round_then_stores_in_the_next(
    app: FastAPI, app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    """Two round trips, three writes: the count and the form's claim at once, then the request's PutItem;
    nothing is written after it."""
    calls = await Calls.of(app)
    counting = calls.hold("UpdateItem", settings.idempotency_table_name)
    storing = calls.hold("PutItem", settings.table_name)
    sent = asyncio.ensure_future(app_api.post("/service-request", json=FORM, headers=ANONYMOUS))
    await counting.reached()
    # The claim is answered while the count is still on its way.
    await calls.until(lambda: calls.count("PutItem", settings.idempotency_table_name) == 1)
    assert not storing.is_reached
    counting.release()
    await storing.reached()
    storing.release()
    answer = await sent
    assert (answer.status_code, answer.json()) == (201, CREATED)
    assert calls.answered == {
        ("UpdateItem", settings.idempotency_table_name): 1,
        ("PutItem", settings.idempotency_table_name): 1,
        ("PutItem", settings.table_name): 1,
    }
    assert await count_items(dynamodb, settings.table_name) == 1


async def test_a_repeat_after_a_delete_behind_the_services_back_is_a_new_request_once_storing_is_over(
    app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings, clock: ManualClock
) -> None:
    """Deleted in the console at once, the request is missing as it is while its holder still stores it:
    a repeat is a new request once the holder's time to store it is over."""
    assert (await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)).status_code == 201
    (first,) = await _stored(dynamodb, settings.table_name)
    await dynamodb.delete_item(
        TableName=settings.table_name,
        Key={"license_plate": {"S": first["license_plate"]}, "service_id": {"S": first["service_id"]}},
    )
    clock.advance(2 * settings.dynamodb_deadline)
    again = await app_api.post("/service-request", json=FORM, headers=ANONYMOUS)
    assert (again.status_code, again.json()) == (201, CREATED)
    (stored,) = await _stored(dynamodb, settings.table_name)
    assert stored["service_id"] != first["service_id"]
