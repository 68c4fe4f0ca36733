"""The lab's story end to end: its rows, its status change, and items written the way the lab writes them."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest

from service.core.settings import Settings
from service.local.lab_rows import LAB_ROWS, seed
from service.storage.backend import Backend
from tests.support.helpers import put_raw, raw_item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


@pytest.fixture
async def seeded(settings: Settings, table: str) -> None:
    await _seed(settings)


async def _seed(settings: Settings) -> None:
    backend = Backend(settings)
    try:
        await seed(await backend.repository())
    finally:
        await backend.aclose()


def _active_plates(page: dict[str, list[dict[str, str]]]) -> list[str]:
    return sorted(i["license_plate"] for i in page["items"])


@pytest.mark.usefixtures("seeded")
async def test_both_seeded_rows_are_active(api: httpx.AsyncClient) -> None:
    page = (await api.get("/requests/active")).json()
    assert _active_plates(page) == ["1J1957", "8B1111"]
    by_plate = {i["license_plate"]: i for i in page["items"]}
    for row in LAB_ROWS:
        item = by_plate[row.license_plate]
        assert (
            item["service_id"],
            item["phone_number"],
            item["service_description"],
            item["service_status"],
        ) == (
            row.service_id,
            row.phone_number,
            row.service_description,
            row.service_status.value,
        )


@pytest.mark.usefixtures("seeded")
async def test_completing_8b1111_leaves_only_1j1957_active(api: httpx.AsyncClient) -> None:
    response = await api.patch("/requests/8B1111/1", json={"service_status": "Completed"})
    assert response.status_code == 200
    assert "completion_date" in response.json()
    page = (await api.get("/requests/active")).json()
    assert _active_plates(page) == ["1J1957"]


@pytest.mark.usefixtures("seeded")
async def test_seeding_twice_adds_nothing_and_overwrites_nothing(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, settings: Settings
) -> None:
    await api.patch("/requests/8B1111/1", json={"service_description": "Changed by a technician"})
    await _seed(settings)
    item = await raw_item(dynamodb, table, "8B1111", "1")
    assert item is not None
    assert item["service_description"] == {"S": "Changed by a technician"}
    assert (await dynamodb.scan(TableName=table, Select="COUNT"))["Count"] == 2


async def test_a_console_item_without_version_timestamps_or_status_reads_updates_and_deletes(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await put_raw(
        dynamodb,
        table,
        license_plate="CONSOLE1",
        service_id="9",
        phone_number="208-555-0000",
        tyre_size="205/55R16",
    )
    path = "/requests/CONSOLE1/9"
    read = await api.get(path)
    assert read.status_code == 200
    assert read.json() == {"license_plate": "CONSOLE1", "service_id": "9", "phone_number": "208-555-0000"}

    updated = await api.patch(path, json={"service_status": "Accepted"})
    assert updated.status_code == 200
    assert updated.json()["version"] == 1, "an item without a version gets one on its first update"
    stored = await raw_item(dynamodb, table, "CONSOLE1", "9")
    assert stored is not None
    assert stored["tyre_size"] == {"S": "205/55R16"}, "unknown attributes are kept"
    assert stored["phone_number"] == {"S": "208-555-0000"}

    assert (await api.delete(path)).status_code == 204
    assert await raw_item(dynamodb, table, "CONSOLE1", "9") is None


async def test_an_item_with_a_number_where_the_lab_has_a_string_still_reads(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await dynamodb.put_item(
        TableName=table,
        Item={
            "license_plate": {"S": "NUM1"},
            "service_id": {"S": "3"},
            "phone_number": {"N": "2085550000"},
            "service_status": {"S": "Accepted"},
            "version": {"N": "4"},
        },
    )
    read = (await api.get("/requests/NUM1/3")).json()
    assert read["phone_number"] == "2085550000"
    assert read["version"] == 4
    assert (await api.patch("/requests/NUM1/3", json={"service_status": "Being Serviced"})).json()[
        "version"
    ] == 5


async def test_fifty_concurrent_creates_for_one_plate_give_fifty_items(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    bodies = [
        {"license_plate": "8B1111", "phone_number": "208-444-5555", "service_description": f"Job {n}"}
        for n in range(50)
    ]
    responses = await asyncio.gather(*(api.post("/requests", json=b) for b in bodies))
    assert [r.status_code for r in responses] == [201] * 50
    assert len({r.json()["service_id"] for r in responses}) == 50
    history = await dynamodb.query(
        TableName=table,
        KeyConditionExpression="license_plate = :p",
        ExpressionAttributeValues={":p": {"S": "8B1111"}},
    )
    assert sorted(i["service_description"]["S"] for i in history["Items"]) == sorted(
        b["service_description"] for b in bodies
    )
