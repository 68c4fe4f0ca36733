"""The website's five calls, with exactly the shapes its pages read, and nothing that can run script there."""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING

import httpx
import pytest

from service.core.models import ACTIVE_STATUSES, Status
from tests.support.helpers import FORM, count_items, create, put_raw, raw_item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


async def test_public_list_is_every_active_request_with_three_fields_only(api: httpx.AsyncClient) -> None:
    active = await asyncio.gather(
        *(create(api, license_plate=f"P{i}", service_status=s.value) for i, s in enumerate(ACTIVE_STATUSES))
    )
    await create(api, license_plate="N1")
    await create(api, license_plate="C1", service_status="Completed")
    await create(api, license_plate="R1", service_status="Service Rejected")

    response = await api.get("/service-request", headers={"Authorization": ""})

    assert response.status_code == 200
    rows = response.json()
    assert isinstance(rows, list)
    assert all(set(row) == {"service_id", "service_status", "phone_number"} for row in rows)
    assert sorted(r["service_id"] for r in rows) == sorted(a["service_id"] for a in active)
    assert {r["phone_number"] for r in rows} == {"5555"}
    assert [r["service_status"] for r in rows] == [s.value for s in ACTIVE_STATUSES]


async def test_public_list_is_not_cut_to_a_page(api: httpx.AsyncClient) -> None:
    await asyncio.gather(*(create(api, license_plate=f"M{i}", service_status="Accepted") for i in range(120)))
    rows = (await api.get("/service-request")).json()
    assert len(rows) == 120


async def test_public_list_cuts_any_phone_format_to_its_last_four_digits(api: httpx.AsyncClient) -> None:
    await create(api, phone_number="+1 (208) 867-5309", service_status="Accepted")
    await create(api, license_plate="X2", phone_number="208.555.0042", service_status="Accepted")
    rows = (await api.get("/service-request")).json()
    assert sorted(r["phone_number"] for r in rows) == ["0042", "5309"]


async def test_public_list_shows_what_digits_a_phone_number_has_or_none(api: httpx.AsyncClient) -> None:
    """A customer may leave a word instead of a number; the row keeps the list's shape, its digits empty."""
    none = await create(api, license_plate="N2", phone_number="none", service_status="Accepted")
    short = await create(api, license_plate="S2", phone_number="ext 12", service_status="Accepted")
    rows = {r["service_id"]: r for r in (await api.get("/service-request")).json()}
    assert rows[none["service_id"]] == {
        "service_id": none["service_id"],
        "service_status": "Accepted",
        "phone_number": "",
    }
    assert rows[short["service_id"]]["phone_number"] == "12"


async def test_public_create_answers_the_websites_message_and_stores_a_new_request(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    response = await api.post(
        "/service-request", json={**FORM, "license_plate": " 1J1957 "}, headers={"Authorization": ""}
    )
    assert response.status_code == 201
    assert response.json() == "Successfully added new service request"
    (item,) = (await dynamodb.scan(TableName=table))["Items"]
    assert item["license_plate"] == {"S": "1J1957"}
    assert item["service_status"] == {"S": "New Request"}
    assert item["phone_number"] == {"S": "208-867-5309"}
    assert len(item["service_id"]["S"]) == 26


@pytest.mark.parametrize("field", ["service_description", "phone_number", "license_plate"])
async def test_public_create_names_a_missing_or_empty_field(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, field: str
) -> None:
    missing = await api.post("/service-request", json={k: v for k, v in FORM.items() if k != field})
    blank = await api.post("/service-request", json={**FORM, field: " \n\t "})
    for response in (missing, blank):
        assert response.status_code == 422
        assert [f["field"] for f in response.json()["fields"]] == [field]
    assert await count_items(dynamodb, table) == 0


async def test_public_create_cannot_choose_the_status_or_id(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/service-request", json={**FORM, "service_status": "Completed", "service_id": "1"}
    )
    assert response.status_code == 201
    (row,) = (await api.get("/requests", params={"status": "New Request"})).json()["items"]
    assert row["service_id"] != "1"


async def test_admin_list_is_whole_items_not_completed_or_rejected(api: httpx.AsyncClient) -> None:
    new = await create(api, license_plate="N1")
    accepted = await create(api, license_plate="A1", service_status="Accepted")
    await create(api, license_plate="C1", service_status="Completed")
    await create(api, license_plate="R1", service_status="Service Rejected")
    response = await api.get("/admin-service-request")
    assert response.status_code == 200
    assert sorted(response.json(), key=lambda i: i["license_plate"]) == [accepted, new]


async def test_admin_put_changes_the_status_and_answers_the_websites_message(api: httpx.AsyncClient) -> None:
    created = await create(api, license_plate="8B1111", service_status="Being Serviced")
    path = f"/admin-service-request/{created['service_id']}"
    response = await api.put(path, json={"license_plate": "8B1111", "service_status": "Completed"})
    assert response.status_code == 200
    assert response.json() == "Successfully updated service request"
    stored = (await api.get(f"/requests/8B1111/{created['service_id']}")).json()
    assert stored["service_status"] == "Completed"
    assert stored["completion_date"] == stored["updated_at"]
    assert stored["version"] == 2


async def test_admin_put_can_change_phone_and_description_too(api: httpx.AsyncClient) -> None:
    created = await create(api)
    path = f"/admin-service-request/{created['service_id']}"
    body = {"license_plate": "8B1111", "phone_number": "208-000-1111", "service_description": "Also wipers"}
    assert (await api.put(path, json=body)).status_code == 200
    stored = (await api.get(f"/requests/8B1111/{created['service_id']}")).json()
    assert (stored["phone_number"], stored["service_description"], stored["service_status"]) == (
        "208-000-1111",
        "Also wipers",
        "New Request",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"license_plate": "8B1111", "service_status": "Done"}, "service_status"),
        ({"service_status": "Accepted"}, "license_plate"),
        ({"license_plate": "8B1111"}, "body"),
    ],
)
async def test_admin_put_refuses_bad_bodies_and_changes_nothing(
    api: httpx.AsyncClient, body: dict[str, str], field: str
) -> None:
    created = await create(api)
    response = await api.put(f"/admin-service-request/{created['service_id']}", json=body)
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == [field]
    assert (await api.get(f"/requests/8B1111/{created['service_id']}")).json() == created


async def test_vehicle_history_is_every_item_of_that_plate(api: httpx.AsyncClient) -> None:
    mine = [
        await create(api, license_plate="1J1957", service_status=s.value)
        for s in (Status.COMPLETED, Status.ACCEPTED)
    ]
    await create(api, license_plate="8B1111")
    response = await api.get("/admin-service-request/vehicle-history/1J1957")
    assert response.status_code == 200
    assert response.json() == sorted(mine, key=lambda i: i["service_id"])
    assert "completion_date" in response.json()[0] or "completion_date" in response.json()[1]


async def test_markup_written_outside_the_api_is_escaped_on_the_websites_routes(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """Items typed in the AWS console bypass validation; the website still gets inert text."""
    attack = '<img src=x onerror="alert(1)">'
    await put_raw(
        dynamodb,
        table,
        license_plate="EVIL<b>",
        service_id="<script>1</script>",
        phone_number=attack,
        service_description=attack,
        service_status="Accepted",
    )
    admin_rows = (await api.get("/admin-service-request")).json()
    history = (await api.get("/admin-service-request/vehicle-history/EVIL%3Cb%3E")).json()
    public_rows = (await api.get("/service-request")).json()
    for body in (admin_rows, history, public_rows):
        text = str(body)
        assert "<" not in text
        assert ">" not in text
    (row,) = admin_rows
    assert row["service_description"] == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert row["service_id"] == "&lt;script&gt;1&lt;/script&gt;"
    assert public_rows == [
        {"service_id": "&lt;script&gt;1&lt;/script&gt;", "service_status": "Accepted", "phone_number": "1"}
    ]
    raw = await raw_item(dynamodb, table, "EVIL<b>", "<script>1</script>")
    assert raw is not None
    assert raw["service_description"] == {"S": attack}, "what is stored stays as it was written"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("service_description", "<script>alert(1)</script>"),
        ("service_description", "Tyres > 30 psi"),
        ("phone_number", '208"><svg onload=alert(1)>'),
        ("license_plate", "A1<SVG/ONLOAD=ALERT(1)>"),
    ],
)
async def test_markup_is_stored_as_typed_returned_raw_by_rest_and_escaped_by_the_website(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, field: str, value: str
) -> None:
    created = await api.post("/requests", json={**FORM, field: value})
    assert created.status_code == 201, created.text
    assert created.json()[field] == value
    assert created.headers["x-content-type-options"] == "nosniff"
    assert created.headers["content-type"] == "application/json"
    public = await api.post("/service-request", json={**FORM, field: value})
    assert public.status_code == 201, public.text
    items = (await api.get("/requests", params={"status": "New Request"})).json()["items"]
    assert [item[field] for item in items] == [value, value]
    assert [row[field] for row in (await api.get("/admin-service-request")).json()] == [
        html.escape(value)
    ] * 2
    scanned = (await dynamodb.scan(TableName=table))["Items"]
    assert [item[field] for item in scanned] == [{"S": value}] * 2
