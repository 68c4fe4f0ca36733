"""Each status a request is given is kept in its history, written in the same conditional update."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from service.core.models import HISTORY_MAX
from service.core.settings import Settings
from service.http.app import create_app
from tests.support.calls import Calls
from tests.support.helpers import FORM, api_client, create, make_settings, put_raw, raw_item
from tests.support.lab_topic import TOPIC_ARN

if TYPE_CHECKING:
    from fastapi import FastAPI
    from types_aiobotocore_dynamodb import DynamoDBClient

TECHNICIAN = "4f1c2b9e-technician"  # the `sub` of the test pool's tokens


def _history(item: dict[str, object]) -> list[tuple[str, str]]:
    entries = item["status_history"]
    assert isinstance(entries, list)
    return [(entry["status"], entry["by"]) for entry in entries]


async def test_a_request_keeps_each_status_it_is_given_by_whom_and_when(api: httpx.AsyncClient) -> None:
    created = await create(api, service_id="H1")
    assert created["status_history"] == [
        {"status": "New Request", "at": created["created_at"], "by": TECHNICIAN}
    ]
    path = "/requests/8B1111/H1"
    accepted = (await api.patch(path, json={"service_status": "Accepted"})).json()
    edited = (await api.patch(path, json={"service_description": "Oil and filter"})).json()
    same = (await api.patch(path, json={"service_status": "ACCEPTED"})).json()
    assert edited["status_history"] == same["status_history"] == accepted["status_history"]
    assert accepted["status_history"][-1]["at"] == accepted["updated_at"]
    website = await api.put(
        "/admin-service-request/H1", json={"license_plate": "8B1111", "service_status": "Completed"}
    )
    assert website.json() == "Successfully updated service request"
    stored = (await api.get(path)).json()
    assert _history(stored) == [
        ("New Request", TECHNICIAN),
        ("Accepted", TECHNICIAN),
        ("Completed", TECHNICIAN),
    ]
    assert stored["version"] == 5
    # The admin routes answer it too, escaped as all their text is.
    (listed,) = (await api.get("/admin-service-request/vehicle-history/8B1111")).json()
    assert listed["status_history"] == stored["status_history"]


async def test_the_public_form_is_named_public_in_the_history(api: httpx.AsyncClient) -> None:
    assert (await api.post("/service-request", json=FORM)).status_code == 201
    (request,) = (await api.get("/admin-service-request")).json()
    assert _history(request) == [("New Request", "public")]


async def test_the_history_keeps_its_latest_entries(api: httpx.AsyncClient) -> None:
    await create(api, service_id="H2")
    statuses = ["Accepted", "Waiting for Parts"]
    for change in range(HISTORY_MAX + 2):
        response = await api.patch("/requests/8B1111/H2", json={"service_status": statuses[change % 2]})
        assert response.status_code == 200, response.text
    history = (await api.get("/requests/8B1111/H2")).json()["status_history"]
    assert len(history) == HISTORY_MAX
    # The creation and the first two changes have made room; the last change is the newest entry.
    assert history[0]["status"] == statuses[2 % 2]
    assert history[-1]["status"] == statuses[(HISTORY_MAX + 1) % 2]
    assert [entry["at"] for entry in history] == sorted(entry["at"] for entry in history)


async def test_a_full_history_is_rewritten_only_while_the_request_is_as_read(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """A stale If-Match still refuses a change of a request whose history is full."""
    await create(api, service_id="H3")
    statuses = ["Accepted", "Waiting for Parts"]
    for change in range(HISTORY_MAX):
        await api.patch("/requests/8B1111/H3", json={"service_status": statuses[change % 2]})
    before = await raw_item(dynamodb, table, "8B1111", "H3")
    stale = await api.patch(
        "/requests/8B1111/H3", json={"service_status": "Completed"}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert await raw_item(dynamodb, table, "8B1111", "H3") == before


async def _fill(api: httpx.AsyncClient, path: str) -> dict[str, Any]:
    """The request at `path` (created with one entry) given HISTORY_MAX - 1 statuses more: a full history."""
    statuses = ["Accepted", "Waiting for Parts"]
    for change in range(HISTORY_MAX - 1):
        response = await api.patch(path, json={"service_status": statuses[change % 2]})
        assert response.status_code == 200, response.text
    full: dict[str, Any] = (await api.get(path)).json()
    assert len(full["status_history"]) == HISTORY_MAX
    return full


async def test_a_status_change_lands_however_often_other_writes_come_between(
    app: FastAPI, app_api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """Another technician's edit lands just before each of the change's writes: the change still lands,
    on the full history as it is then, and the edits are kept."""
    await create(app_api, service_id="H4")
    path = "/requests/8B1111/H4"
    full = await _fill(app_api, path)
    edits: list[str] = []

    async def edit_first(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == table and len(edits) < 10:
            edits.append(f"Edited {len(edits)}")
            await dynamodb.update_item(
                TableName=table,
                Key={"license_plate": {"S": "8B1111"}, "service_id": {"S": "H4"}},
                UpdateExpression="SET service_description = :d, updated_at = :t ADD version :one",
                ExpressionAttributeValues={
                    ":d": {"S": edits[-1]},
                    ":t": {"S": f"2026-01-01T00:00:00.{len(edits):03d}Z"},
                    ":one": {"N": "1"},
                },
            )

    client = await app.state.backend.client()
    client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", edit_first)
    try:
        changed = await app_api.patch(path, json={"service_status": "Completed"})
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", edit_first)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["service_description"] == edits[-1], "the edits are kept"
    assert body["version"] == full["version"] + len(edits) + 1
    assert body["status_history"] == [
        *full["status_history"][1:],
        {"status": "Completed", "at": body["updated_at"], "by": TECHNICIAN},
    ]
    assert (await app_api.get(path)).json() == body


async def test_a_status_change_is_one_write_and_on_a_full_history_two(
    app: FastAPI, app_api: httpx.AsyncClient
) -> None:
    """The first write assumes room in the history; only a full one takes a second, and no read."""
    await create(app_api, service_id="H5")
    path = "/requests/8B1111/H5"
    calls = await Calls.of(app)
    assert (await app_api.patch(path, json={"service_status": "Accepted"})).status_code == 200
    assert (calls.count("UpdateItem"), calls.count("GetItem")) == (1, 0)
    full = await _fill(app_api, path)
    calls.answered.clear()
    changed = await app_api.patch(path, json={"service_status": "Completed"})
    assert changed.status_code == 200
    assert changed.json()["status_history"] == [
        *full["status_history"][1:],
        {"status": "Completed", "at": changed.json()["updated_at"], "by": TECHNICIAN},
    ]
    assert calls.count("UpdateItem") == 2
    assert calls.count("GetItem") <= 1, "a read only where DynamoDB does not send the item back"


async def test_a_longer_history_written_elsewhere_is_cut_to_the_latest_entries(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    entries = [
        {
            "M": {
                "status": {"S": "Accepted"},
                "at": {"S": f"2025-01-01T00:00:{n:02d}.000Z"},
                "by": {"S": f"{n}"},
            }
        }
        for n in range(HISTORY_MAX + 10)
    ]
    await dynamodb.put_item(
        TableName=table,
        Item={
            "license_plate": {"S": "8B1111"},
            "service_id": {"S": "H6"},
            "service_status": {"S": "Accepted"},
            "status_history": {"L": entries},
        },
    )
    changed = await api.patch("/requests/8B1111/H6", json={"service_status": "Completed"})
    assert changed.status_code == 200, changed.text
    history = changed.json()["status_history"]
    assert [entry["by"] for entry in history] == [*(str(n) for n in range(11, HISTORY_MAX + 10)), TECHNICIAN]


async def test_items_written_elsewhere_read_without_a_history_and_start_one_when_changed(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await put_raw(dynamodb, table, license_plate="8B1111", service_id="1", service_status="Being Serviced")
    plain = (await api.get("/requests/8B1111/1")).json()
    assert "status_history" not in plain
    changed = (await api.patch("/requests/8B1111/1", json={"service_status": "Completed"})).json()
    assert _history(changed) == [("Completed", TECHNICIAN)]


async def test_the_api_document_shows_the_history() -> None:
    document = create_app(make_settings("http://127.0.0.1:9")).openapi()
    schemas = document["components"]["schemas"]
    history = schemas["ServiceRequest"]["properties"]["status_history"]
    assert "StatusHistoryEntry" in str(history)
    assert set(schemas["StatusHistoryEntry"]["properties"]) == {"status", "at", "by"}
    assert schemas["ServiceRequest"]["examples"][0]["status_history"]


async def test_requests_never_talk_to_sns(settings: Settings, table: str) -> None:
    """The request path publishes nothing: with the topic set and SNS's endpoint a port that listens,
    creates and status changes answer as ever and nothing ever connects to it."""
    with socket.socket() as sns:
        sns.bind(("127.0.0.1", 0))
        sns.listen()
        sns.setblocking(False)
        events = settings.model_copy(
            update={
                "status_topic_arn": TOPIC_ARN,
                "sns_endpoint": f"http://127.0.0.1:{sns.getsockname()[1]}",
                "auth_mode": "none",
            }
        )
        async with api_client(events) as client:
            await create(client, service_id="S1")
            changed = await client.patch("/requests/8B1111/S1", json={"service_status": "Completed"})
            assert changed.status_code == 200
            assert (await client.post("/service-request", json=FORM)).status_code == 201
        with pytest.raises(BlockingIOError):
            sns.accept()


async def test_the_websites_update_with_the_plate_typed_in_lower_case_is_one_write(
    app: FastAPI, app_api: httpx.AsyncClient
) -> None:
    """The page sends the plate as the customer typed it: its canonical form is tried first, where the
    service stored the request, so `1j1957` costs one call, as `1J1957` does."""
    created = await create(app_api, license_plate="1J1957", service_id="L1")
    calls = await Calls.of(app)
    for typed in ("1j1957", "1J1957"):
        calls.answered.clear()
        body = {"license_plate": typed, "service_status": "Accepted" if typed.islower() else "Completed"}
        answer = await app_api.put(f"/admin-service-request/{created['service_id']}", json=body)
        assert answer.json() == "Successfully updated service request"
        assert sum(calls.count(operation) for operation in ("UpdateItem", "GetItem", "PutItem")) == 1, typed
