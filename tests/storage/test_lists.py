"""Lists by vehicle, by status and of the active requests: Queries, pages and cursors."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from service.core.models import ACTIVE_STATUSES, Status
from service.core.settings import Settings
from tests.support.calls import Calls
from tests.support.helpers import all_pages, create, put_raw

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


async def _create_each(api: httpx.AsyncClient, plates_and_statuses: list[tuple[str, Status]]) -> list[str]:
    created = await asyncio.gather(
        *(create(api, license_plate=p, service_status=s.value) for p, s in plates_and_statuses)
    )
    return [c["service_id"] for c in created]


async def test_vehicle_history_lists_only_that_plate_in_id_order(api: httpx.AsyncClient) -> None:
    mine = [(await create(api, license_plate="1J1957"))["service_id"] for _ in range(3)]
    await create(api, license_plate="8B1111")
    response = await api.get("/vehicles/1J1957/requests")
    assert response.status_code == 200
    page = response.json()
    assert [i["service_id"] for i in page["items"]] == sorted(mine)
    assert page["next_cursor"] is None


async def test_vehicle_history_of_an_unknown_plate_is_empty(api: httpx.AsyncClient) -> None:
    response = await api.get("/vehicles/NOPE/requests")
    assert response.json() == {"items": [], "next_cursor": None}


async def test_list_by_status_returns_exactly_that_status(api: httpx.AsyncClient) -> None:
    await _create_each(api, [("A1", Status.ACCEPTED), ("B2", Status.ACCEPTED), ("C3", Status.COMPLETED)])
    response = await api.get("/requests", params={"status": "Accepted"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert sorted(i["license_plate"] for i in items) == ["A1", "B2"]
    assert {i["service_status"] for i in items} == {"Accepted"}


async def test_list_by_status_accepts_statuses_the_website_does_not_know(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await put_raw(dynamodb, table, license_plate="Z9", service_id="7", service_status="On Hold")
    response = await api.get("/requests", params={"status": "On Hold"})
    assert [i["service_id"] for i in response.json()["items"]] == ["7"]


async def test_list_by_status_needs_a_status(api: httpx.AsyncClient) -> None:
    response = await api.get("/requests")
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "status"


async def test_active_list_holds_every_active_status_and_nothing_else(api: httpx.AsyncClient) -> None:
    wanted = await _create_each(api, [(f"P{i}", s) for i, s in enumerate(ACTIVE_STATUSES)])
    await _create_each(api, [("N1", Status.NEW_REQUEST), ("C1", Status.COMPLETED), ("R1", Status.REJECTED)])
    page = (await api.get("/requests/active")).json()
    assert sorted(i["service_id"] for i in page["items"]) == sorted(wanted)
    statuses = [i["service_status"] for i in page["items"]]
    assert statuses == [s.value for s in ACTIVE_STATUSES], "ordered by status in workflow order"
    assert page["next_cursor"] is None


async def test_active_list_asks_for_every_status_in_one_round_trip(
    app: FastAPI, app_api: httpx.AsyncClient, settings: Settings
) -> None:
    wanted = await _create_each(app_api, [(f"R{i}", s) for i, s in enumerate(ACTIVE_STATUSES)])
    calls = await Calls.of(app)
    first = calls.hold("Query", settings.table_name)
    sent = asyncio.ensure_future(app_api.get("/requests/active"))
    await first.reached()
    # The other statuses' Queries are answered while the first one's is still on its way.
    await calls.until(lambda: calls.count("Query") == len(ACTIVE_STATUSES) - 1)
    first.release()
    page = (await sent).json()
    assert [i["service_id"] for i in page["items"]] == wanted, "still in workflow order"
    assert calls.count("Query") == len(ACTIVE_STATUSES)


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_active_list_pages_cover_everything_once(api: httpx.AsyncClient, limit: int) -> None:
    statuses = [ACTIVE_STATUSES[i % 3] for i in range(7)]
    wanted = await _create_each(api, [(f"V{i}", s) for i, s in enumerate(statuses)])
    await create(api, license_plate="NEW1")
    items = await all_pages(api, "/requests/active", limit=limit)
    assert sorted(i["service_id"] for i in items) == sorted(wanted)


async def test_a_full_last_page_has_no_next_cursor(api: httpx.AsyncClient) -> None:
    await _create_each(api, [("A1", Status.ACCEPTED), ("B1", Status.BEING_SERVICED)])
    page = (await api.get("/requests/active", params={"limit": 2})).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


async def test_status_and_vehicle_lists_page_with_cursors(api: httpx.AsyncClient) -> None:
    await _create_each(api, [("SAME", Status.ACCEPTED) for _ in range(5)])
    by_status = await all_pages(api, "/requests", status="Accepted", limit=2)
    by_vehicle = await all_pages(api, "/vehicles/SAME/requests", limit=2)
    assert len({i["service_id"] for i in by_status}) == 5
    assert [i["service_id"] for i in by_vehicle] == sorted(i["service_id"] for i in by_status)


async def test_active_list_follows_dynamodb_pages_past_one_megabyte(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """Items near DynamoDB's 400 KB limit make a Query stop at 1 MB; the list must go on past it."""
    filler = "x" * 300_000
    for i in range(8):
        await put_raw(
            dynamodb,
            table,
            license_plate=f"BIG{i}",
            service_id=str(i),
            service_status="Accepted",
            notes=filler,
        )
    first = await dynamodb.query(
        TableName=table,
        IndexName="StatusIndex",
        KeyConditionExpression="service_status = :s",
        ExpressionAttributeValues={":s": {"S": "Accepted"}},
    )
    assert "LastEvaluatedKey" in first, (
        "the server must split this result into pages for the test to mean much"
    )
    page = (await api.get("/requests/active")).json()
    assert sorted(i["license_plate"] for i in page["items"]) == [f"BIG{i}" for i in range(8)]
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "e30.AAAA", "a.b.c", "", "x" * 3000],
    ids=["garbage", "bad signature", "three parts", "empty", "too long"],
)
async def test_malformed_cursors_are_400(api: httpx.AsyncClient, cursor: str) -> None:
    response = await api.get("/requests/active", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


async def test_a_cursor_from_another_list_is_400(api: httpx.AsyncClient) -> None:
    await _create_each(api, [("SAME", Status.ACCEPTED) for _ in range(3)])
    page = (await api.get("/requests", params={"status": "Accepted", "limit": 1})).json()
    response = await api.get("/requests/active", params={"cursor": page["next_cursor"]})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"
    other = await api.get("/requests", params={"status": "Completed", "cursor": page["next_cursor"]})
    assert other.status_code == 400


async def test_limit_is_bounded(api: httpx.AsyncClient) -> None:
    for limit in (0, 1001, -1):
        response = await api.get("/requests/active", params={"limit": limit})
        assert response.status_code == 422
        assert response.json()["fields"][0]["field"] == "limit"
