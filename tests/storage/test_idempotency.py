"""Idempotency-Key: a retried create is answered the first call's request, never stores a second one, and
never stores it again."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from service.core.models import ServiceRequestCreate
from service.core.settings import Settings
from service.http.app import create_app
from service.http.caller import Caller
from service.storage.idempotency import IdempotencyKey, caller_key
from tests.support.calls import Calls, racing, stopped_at
from tests.support.cognito import UserPool
from tests.support.helpers import FORM, ManualClock, count_items, new_request, served

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

KEY = {"Idempotency-Key": "3f6c1f0e-8d7b-4a51-9f2e-0c1b2a3d4e5f"}
ANONYMOUS = {"Authorization": ""}
# The `sub` of the tests' technician (UserPool.token), and of another one.
TECHNICIAN = "4f1c2b9e-technician"
OTHER_TECHNICIAN = "9d0e7a31-other-technician"


def record_key(route: str, caller: Caller) -> dict[str, dict[str, str]]:
    """Where the record of KEY, sent to `route` by `caller`, is kept."""
    return {"idempotency_key": {"S": caller_key(KEY["Idempotency-Key"], route, caller.name).key}}


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    """An anonymous client of `app` (whose lifespan another client runs) calling from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


async def test_a_retry_with_the_same_key_and_body_returns_the_same_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    first = await api.post("/requests", json=new_request(), headers=KEY)
    retry = await api.post("/requests", json=new_request(), headers=KEY)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_items(dynamodb, table) == 1


async def test_the_same_key_with_another_body_is_refused_and_stores_nothing(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    assert (await api.post("/requests", json=new_request(), headers=KEY)).status_code == 201
    for body in (new_request(phone_number="208-000-0000"), new_request(license_plate="OTHER1")):
        response = await api.post("/requests", json=body, headers=KEY)
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
    assert await count_items(dynamodb, table) == 1


async def test_the_same_key_on_another_route_is_another_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    assert (await api.post("/requests", json=new_request(), headers=KEY)).status_code == 201
    other_route = await api.post("/service-request", json=FORM, headers=KEY)
    assert other_route.status_code == 201
    assert await count_items(dynamodb, table) == 2


@pytest.mark.parametrize("body", [FORM, new_request()], ids=["same body", "another body"])
async def test_an_anonymous_callers_key_neither_blocks_nor_answers_a_technicians_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, body: dict[str, str]
) -> None:
    """An anonymous form with a key, then a technician's create with that key: the technician's request is
    stored as any other, so the form could neither block it nor tell that the key was used."""
    form = await api.post("/service-request", json=FORM, headers={**KEY, **ANONYMOUS})
    assert form.status_code == 201
    created = await api.post("/requests", json=body, headers=KEY)
    assert created.status_code == 201, created.text
    assert "idempotent-replayed" not in created.headers
    assert await count_items(dynamodb, table) == 2
    retry = await api.post("/requests", json=body, headers=KEY)
    assert (retry.status_code, retry.json()) == (201, created.json())
    assert await count_items(dynamodb, table) == 2


@pytest.mark.parametrize("body", [new_request(), new_request(phone_number="208-000-0000")])
async def test_one_technicians_key_neither_blocks_nor_answers_another_technicians_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, user_pool: UserPool, body: dict[str, str]
) -> None:
    first = await api.post("/requests", json=new_request(), headers=KEY)
    other = {**KEY, "Authorization": f"Bearer {user_pool.token(sub=OTHER_TECHNICIAN)}"}
    second = await api.post("/requests", json=body, headers=other)
    assert second.status_code == 201, second.text
    assert "idempotent-replayed" not in second.headers
    assert second.json()["service_id"] != first.json()["service_id"]
    assert await count_items(dynamodb, table) == 2
    # Each technician's retry is answered their own request.
    assert (await api.post("/requests", json=new_request(), headers=KEY)).json() == first.json()
    assert (await api.post("/requests", json=body, headers=other)).json() == second.json()
    assert await count_items(dynamodb, table) == 2


async def test_anonymous_callers_at_other_addresses_have_keys_of_their_own(
    app: FastAPI, app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    async with from_address(app, "203.0.113.7") as one, from_address(app, "198.51.100.9") as other:
        first = await one.post("/service-request", json=FORM, headers=KEY)
        second = await other.post("/service-request", json=new_request(), headers=KEY)
        assert (first.status_code, second.status_code) == (201, 201), second.text
        assert await count_items(dynamodb, settings.table_name) == 2
        # The first caller's retry is still its own request.
        reused = await one.post("/service-request", json=new_request(), headers=KEY)
        assert reused.json()["code"] == "idempotency_key_reused"
    assert await count_items(dynamodb, settings.table_name) == 2


@pytest.mark.atomic_writes("moto checks a write's condition and applies it to the item without a lock")
async def test_concurrent_retries_store_one_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    responses = await asyncio.gather(
        *(api.post("/requests", json=new_request(), headers=KEY) for _ in range(20))
    )
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["service_id"] for r in responses}) == 1
    assert await count_items(dynamodb, table) == 1


async def test_the_public_form_is_idempotent_too(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    for _ in range(3):
        response = await api.post("/service-request", json=FORM, headers={**KEY, "Authorization": ""})
        assert (response.status_code, response.json()) == (201, "Successfully added new service request")
    assert await count_items(dynamodb, table) == 1


async def test_different_keys_store_different_requests(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    for n in range(3):
        response = await api.post(
            "/requests", json=new_request(), headers={"Idempotency-Key": f"key-number-{n}"}
        )
        assert response.status_code == 201
    assert await count_items(dynamodb, table) == 3


@pytest.mark.parametrize("key", ["short", "x" * 256, "has space in it", "ünïcödé-key"])
async def test_malformed_keys_are_422_naming_the_header(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, key: str
) -> None:
    response = await api.post("/requests", json=new_request(), headers=[(b"Idempotency-Key", key.encode())])
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "Idempotency-Key"
    assert await count_items(dynamodb, table) == 0


async def test_no_idempotency_record_lands_in_the_service_request_table(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await api.post("/requests", json=new_request(), headers=KEY)
    items = (await dynamodb.scan(TableName=table))["Items"]
    assert [set(item) >= {"license_plate", "service_id", "service_status"} for item in items] == [True]


async def test_a_retry_with_a_given_service_id_replays_and_a_taken_id_frees_the_key(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    body = new_request(service_id="job-7")
    first = await api.post("/requests", json=body, headers=KEY)
    retry = await api.post("/requests", json=body, headers=KEY)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["service_id"] == "job-7"
    other_key = {"Idempotency-Key": "another-key-0001"}
    taken = await api.post("/requests", json=body, headers=other_key)
    assert taken.status_code == 409
    # The key was freed: used again for another body, it is a new request, not a reuse.
    fresh = await api.post("/requests", json=new_request(service_id="job-8"), headers=other_key)
    assert fresh.status_code == 201
    assert await count_items(dynamodb, table) == 2


async def test_a_replay_after_the_request_was_deleted_answers_it_as_stored_and_stores_nothing(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    first = await api.post("/requests", json=new_request(), headers=KEY)
    assert (await api.delete(first.headers["location"])).status_code == 204
    replay = await api.post("/requests", json=new_request(), headers=KEY)
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert replay.headers["location"] == first.headers["location"]
    assert replay.headers["etag"] == first.headers["etag"]
    assert replay.headers["idempotent-replayed"] == "true"
    assert await count_items(dynamodb, table) == 0


async def test_a_replay_of_the_public_form_after_the_request_was_deleted_stores_nothing(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    first = await api.post("/service-request", json=FORM, headers={**KEY, **ANONYMOUS})
    (item,) = (await dynamodb.scan(TableName=table))["Items"]
    await dynamodb.delete_item(
        TableName=table, Key={"license_plate": item["license_plate"], "service_id": item["service_id"]}
    )
    replay = await api.post("/service-request", json=FORM, headers={**KEY, **ANONYMOUS})
    assert (replay.status_code, replay.json()) == (first.status_code, first.json())
    assert await count_items(dynamodb, table) == 0


async def test_a_replay_after_the_request_changed_answers_it_as_first_stored(api: httpx.AsyncClient) -> None:
    first = await api.post("/requests", json=new_request(), headers=KEY)
    changed = await api.patch(first.headers["location"], json={"service_status": "Accepted"})
    assert changed.json()["version"] == 2
    replay = await api.post("/requests", json=new_request(), headers=KEY)
    assert replay.json() == first.json()
    assert (await api.get(first.headers["location"])).json() == changed.json()


async def test_a_retry_racing_the_first_call_waits_for_its_request_and_nobody_gets_409(
    app: FastAPI, app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    """The first call has claimed the key but not stored its request yet when the retry comes: the retry
    waits for that request instead of storing it itself (then the first call found its own request taken,
    answered 409 and freed the key, and a later retry stored a second request)."""
    first, retry = await racing(
        await Calls.of(app),
        settings,
        app_api.post("/requests", json=new_request(), headers=KEY),
        app_api.post("/requests", json=new_request(), headers=KEY),
    )
    answers = [first, retry, await app_api.post("/requests", json=new_request(), headers=KEY)]
    assert [a.status_code for a in answers] == [201, 201, 201], answers[0].text
    assert len({a.json()["service_id"] for a in answers}) == 1
    assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true"]
    assert await count_items(dynamodb, settings.table_name) == 1


async def test_the_409_path_never_frees_a_key_another_call_completed(
    app: FastAPI,
    app_api: httpx.AsyncClient,
    dynamodb: DynamoDBClient,
    settings: Settings,
    clock: ManualClock,
) -> None:
    """The first call stalls past its lease between claiming the key and storing; a retry takes the key
    over and stores the request. The first call then finds its id taken: by its own request, so it answers
    that request, and the key stays."""
    body = new_request(service_id="job-7")
    calls = await Calls.of(app)
    first_store = calls.hold("PutItem", settings.table_name)
    first = asyncio.create_task(app_api.post("/requests", json=body, headers=KEY))
    await first_store.reached()
    clock.advance(6 * settings.dynamodb_deadline)
    retry = await app_api.post("/requests", json=body, headers=KEY)
    assert (retry.status_code, retry.json()["service_id"]) == (201, "job-7")
    first_store.release()
    assert ((await first).status_code, (await first).json()) == (201, retry.json())
    again = await app_api.post("/requests", json=body, headers=KEY)
    assert (again.status_code, again.json()) == (201, retry.json())
    record = await dynamodb.get_item(
        TableName=settings.idempotency_table_name,
        Key=record_key("requests", Caller.technician({"sub": TECHNICIAN})),
    )
    assert record["Item"]["outcome"]["M"]["service_id"] == {"S": "job-7"}
    assert await count_items(dynamodb, settings.table_name) == 1


async def test_a_key_whose_first_call_stopped_before_storing_is_taken_over_after_its_lease(
    settings: Settings, table: str, clock: ManualClock, dynamodb: DynamoDBClient, user_pool: UserPool
) -> None:
    """The process stops between claiming the key and storing the request: a retry within the lease is
    told to come back (409 with Retry-After), one after it stores the request under the key's id."""
    # A short deadline: a retry waits that long for the first call before it answers 409.
    settings = settings.model_copy(update={"dynamodb_deadline": 1.0})
    app = create_app(settings, clock=clock)
    async with served(app, token=user_pool.token()) as api:
        calls = await Calls.of(app)
        await stopped_at(
            calls.hold("PutItem", settings.table_name),
            api.post("/requests", json=new_request(), headers=KEY),
        )
        too_soon = await api.post("/requests", json=new_request(), headers=KEY)
        assert too_soon.status_code == 409
        assert too_soon.json()["code"] == "request_in_progress"
        assert 1 <= int(too_soon.headers["retry-after"]) <= 6
        assert await count_items(dynamodb, settings.table_name) == 0

        clock.advance(6 * settings.dynamodb_deadline)
        later = await api.post("/requests", json=new_request(), headers=KEY)
        assert later.status_code == 201
        record = await dynamodb.get_item(
            TableName=settings.idempotency_table_name,
            Key=record_key("requests", Caller.technician({"sub": TECHNICIAN})),
        )
        assert later.json()["service_id"] == record["Item"]["service_id"]["S"]
        replay = await api.post("/requests", json=new_request(), headers=KEY)
        assert (replay.status_code, replay.json()) == (201, later.json())
    assert await count_items(dynamodb, settings.table_name) == 1


async def test_a_key_whose_first_call_stopped_after_storing_is_completed_with_that_request(
    app: FastAPI,
    app_api: httpx.AsyncClient,
    dynamodb: DynamoDBClient,
    settings: Settings,
    clock: ManualClock,
) -> None:
    """The process stops between storing the request and recording it on the key: a retry after the lease
    finds the request stored and answers it; nothing is stored twice."""
    calls = await Calls.of(app)
    await stopped_at(
        calls.hold("UpdateItem", settings.idempotency_table_name),
        app_api.post("/requests", json=new_request(), headers=KEY),
    )
    (stored,) = (await dynamodb.scan(TableName=settings.table_name))["Items"]

    clock.advance(6 * settings.dynamodb_deadline)
    retry = await app_api.post("/requests", json=new_request(), headers=KEY)
    assert retry.status_code == 201
    assert retry.json()["service_id"] == stored["service_id"]["S"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert await count_items(dynamodb, settings.table_name) == 1


async def test_records_that_earlier_versions_kept_under_the_bare_key_affect_no_call(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, settings: Settings
) -> None:
    """Earlier versions kept a key's record under the key alone, whoever sent it and wherever: such a
    record (here one that an anonymous form left, answered already) is never read again."""
    stored = {"license_plate": {"S": "1J1957"}, "service_id": {"S": "01JD8Y6V2ZK4M7Q9R3T5W8X0AB"}}
    fingerprint = IdempotencyKey(KEY["Idempotency-Key"], "service-request").fingerprint(
        ServiceRequestCreate(**FORM).model_dump_json()
    )
    await dynamodb.put_item(
        TableName=settings.idempotency_table_name,
        Item={
            "idempotency_key": {"S": KEY["Idempotency-Key"]},
            "fingerprint": {"S": fingerprint},
            **stored,
            "claimed_by": {"S": "an earlier call"},
            "claimed_at": {"N": str(time.time())},
            "outcome": {"M": stored},
            "expires_at": {"N": str(int(time.time()) + 3600)},
        },
    )
    created = await api.post("/requests", json=new_request(), headers=KEY)
    assert created.status_code == 201, created.text
    assert "idempotent-replayed" not in created.headers
    assert await count_items(dynamodb, settings.table_name) == 1
