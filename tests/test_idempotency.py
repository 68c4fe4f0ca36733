"""Idempotency-Key: a retried create returns the first call's request, never a second one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest

from service.settings import Settings
from tests.helpers import FORM, count_items, new_request

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

KEY = {"Idempotency-Key": "3f6c1f0e-8d7b-4a51-9f2e-0c1b2a3d4e5f"}


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
    other_route = await api.post("/service-request", json=FORM, headers=KEY)
    assert other_route.status_code == 422
    assert await count_items(dynamodb, table) == 1


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


async def test_a_first_call_that_stopped_between_its_writes_is_completed_by_the_retry(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, settings: Settings
) -> None:
    """The key's record names the id, but the request was never stored (the process died in between)."""
    first = await api.post("/requests", json=new_request(), headers=KEY)
    service_id = first.json()["service_id"]
    await dynamodb.delete_item(
        TableName=table, Key={"license_plate": {"S": "8B1111"}, "service_id": {"S": service_id}}
    )
    retry = await api.post("/requests", json=new_request(), headers=KEY)
    assert retry.status_code == 201
    assert retry.json()["service_id"] == service_id
    assert await count_items(dynamodb, table) == 1
    record = await dynamodb.get_item(
        TableName=settings.idempotency_table_name, Key={"idempotency_key": {"S": KEY["Idempotency-Key"]}}
    )
    assert int(record["Item"]["expires_at"]["N"]) > 0


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
