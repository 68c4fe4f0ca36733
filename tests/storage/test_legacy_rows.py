"""Rows stored as typed by the lab's code or the AWS console stay reachable: a plate finds its vehicle
whichever way it was stored, and the website's update of a missing request says so."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from tests.support.helpers import all_pages, count_items, create, put_raw, raw_item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

SPACED = "abc 123 "  # what the course's Node code stored when a customer typed a trailing space


async def _legacy(dynamodb: DynamoDBClient, table: str, plate: str = SPACED, service_id: str = "7") -> None:
    await put_raw(
        dynamodb,
        table,
        license_plate=plate,
        service_id=service_id,
        phone_number="208-555-0107",
        service_description="Stored by the lab's code",
        service_status="Accepted",
    )


async def test_the_website_updates_a_row_whose_plate_has_a_trailing_space(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await _legacy(dynamodb, table)
    response = await api.put(
        "/admin-service-request/7", json={"license_plate": SPACED, "service_status": "Completed"}
    )
    assert response.status_code == 200
    assert response.json() == "Successfully updated service request"
    stored = await raw_item(dynamodb, table, SPACED, "7")
    assert stored is not None
    assert stored["service_status"] == {"S": "Completed"}
    assert "completion_date" in stored
    assert await count_items(dynamodb, table) == 1, "updated in place, nothing new stored"


async def test_rest_reads_updates_and_deletes_a_spaced_plate(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await _legacy(dynamodb, table)
    path = f"/requests/{quote(SPACED, safe='')}/7"
    read = await api.get(path)
    assert read.status_code == 200
    assert read.json()["license_plate"] == SPACED
    patched = await api.patch(
        path, json={"service_description": "Edited", "service_status": "being serviced"}
    )
    assert patched.status_code == 200
    assert (patched.json()["service_description"], patched.json()["service_status"]) == (
        "Edited",
        "Being Serviced",
    )
    assert (await api.delete(path)).status_code == 204
    assert await raw_item(dynamodb, table, SPACED, "7") is None


async def test_a_plate_as_typed_finds_rows_stored_as_typed_and_in_the_canonical_form(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await _legacy(dynamodb, table, plate="abc 123", service_id="1")
    new = await create(api, license_plate="abc 123", service_description="Stored by this service")
    assert new["license_plate"] == "ABC 123"

    rest = await api.get("/vehicles/abc%20123/requests")
    website = await api.get("/admin-service-request/vehicle-history/abc%20123")
    assert [(i["license_plate"], i["service_id"]) for i in rest.json()["items"]] == [
        ("ABC 123", new["service_id"]),
        ("abc 123", "1"),
    ], "in service_id order, whichever partition holds them"
    assert [i["service_id"] for i in website.json()] == [new["service_id"], "1"]
    canonical_only = await api.get("/vehicles/ABC%20123/requests")
    assert [i["service_id"] for i in canonical_only.json()["items"]] == [new["service_id"]]
    found = await api.get(f"/requests/abc%20123/{new['service_id']}")
    assert found.json() == new


async def test_a_history_across_two_partitions_pages_without_gaps_or_repeats(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    for service_id in ("1", "3", "5", "7"):
        await _legacy(dynamodb, table, plate="abc 123", service_id=service_id)
    for service_id in ("2", "3", "6"):
        await create(api, license_plate="ABC 123", service_id=service_id)
    items = await all_pages(api, "/vehicles/abc%20123/requests", limit=2)
    assert [(i["service_id"], i["license_plate"]) for i in items] == [
        ("1", "abc 123"),
        ("2", "ABC 123"),
        ("3", "abc 123"),
        ("3", "ABC 123"),
        ("5", "abc 123"),
        ("6", "ABC 123"),
        ("7", "abc 123"),
    ]


async def test_the_website_finds_rows_by_the_escaped_text_its_lists_gave_it(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await _legacy(dynamodb, table, plate="A&B 1", service_id="x<1>")
    (row,) = (await api.get("/admin-service-request")).json()
    assert (row["license_plate"], row["service_id"]) == ("A&amp;B 1", "x&lt;1&gt;")
    history = await api.get(f"/admin-service-request/vehicle-history/{quote(row['license_plate'], safe='')}")
    assert [i["service_id"] for i in history.json()] == ["x&lt;1&gt;"]
    response = await api.put(
        f"/admin-service-request/{quote(row['service_id'], safe='')}",
        json={"license_plate": row["license_plate"], "service_status": "Waiting for Parts"},
    )
    assert response.json() == "Successfully updated service request"
    stored = await raw_item(dynamodb, table, "A&B 1", "x<1>")
    assert stored is not None
    assert stored["service_status"] == {"S": "Waiting for Parts"}


async def test_the_website_update_of_a_missing_request_answers_no_record_found(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    response = await api.put(
        "/admin-service-request/42", json={"license_plate": "8B1111", "service_status": "Accepted"}
    )
    assert response.status_code == 200
    assert response.json() == "No record found"
    assert await count_items(dynamodb, table) == 0
    rest = await api.patch("/requests/8B1111/42", json={"service_status": "Accepted"})
    assert rest.status_code == 404, "the REST routes keep their 404"


async def test_console_ids_with_spaces_are_reachable_exactly(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await _legacy(dynamodb, table, plate=" 8B1111", service_id=" 2 ")
    path = f"/requests/{quote(' 8B1111', safe='')}/{quote(' 2 ', safe='')}"
    assert (await api.get(path)).status_code == 200
    assert (await api.patch(path, json={"service_status": "Accepted"})).status_code == 200
    assert (await api.delete(path)).status_code == 204


async def test_a_plate_with_a_line_break_or_a_slash_is_reachable_in_paths(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    for plate in ("line\nbreak", "AB/12", "\nAB/\n12\n"):
        await _legacy(dynamodb, table, plate=plate, service_id="1")
        key = quote(plate, safe="")
        assert (await api.get(f"/requests/{key}/1")).json()["license_plate"] == plate
        assert [i["service_id"] for i in (await api.get(f"/vehicles/{key}/requests")).json()["items"]] == [
            "1"
        ]
        website = await api.get(f"/admin-service-request/vehicle-history/{key}")
        assert [i["service_id"] for i in website.json()] == ["1"]
        assert (await api.delete(f"/requests/{key}/1")).status_code == 204


async def test_rows_stored_under_the_earlier_canonical_form_stay_reachable_by_the_plate_typed(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """The service once stored `ΐ1` as upper-cased but not composed again (three code points)."""
    earlier, typed = "\u0399\u0308\u03011", "\u03901"
    await _legacy(dynamodb, table, plate=earlier, service_id="1")
    new = await create(api, license_plate=typed, service_id="2")
    assert new["license_plate"] == "\u03aa\u03011"
    for path in (f"/vehicles/{quote(typed)}/requests", f"/vehicles/{quote(earlier)}/requests"):
        items = (await api.get(path)).json()["items"]
        assert [(i["service_id"], i["license_plate"]) for i in items] == [
            ("1", earlier),
            ("2", new["license_plate"]),
        ], path
    history = await api.get(f"/admin-service-request/vehicle-history/{quote(typed)}")
    assert [i["service_id"] for i in history.json()] == ["1", "2"]
    assert (await api.get(f"/requests/{quote(typed)}/1")).json()["license_plate"] == earlier


async def test_a_console_row_whose_plate_is_only_dots_stays_reachable(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """No form can store such a plate, but the console could: a program names it with encoded dots."""
    for plate in (".", ".."):
        await _legacy(dynamodb, table, plate=plate, service_id="1")
        key = "%2E" * len(plate)
        assert (await api.get(f"/requests/{key}/1")).json()["license_plate"] == plate
        assert [i["service_id"] for i in (await api.get(f"/vehicles/{key}/requests")).json()["items"]] == [
            "1"
        ]
        update = await api.put(
            "/admin-service-request/1", json={"license_plate": plate, "service_status": "Accepted"}
        )
        assert update.json() == "Successfully updated service request"
        assert (await api.delete(f"/requests/{key}/1")).status_code == 204
