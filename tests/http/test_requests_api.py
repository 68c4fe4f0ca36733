"""Create, read, update and delete of service requests through the REST API, against moto over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest

from service.core.models import Status
from service.core.settings import Settings
from service.http.app import create_app
from tests.support.helpers import count_items, create, new_request, raw_item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


async def test_create_stores_the_request_and_answers_201_with_location(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    response = await api.post("/requests", json=new_request(license_plate="ABC 123"))
    assert response.status_code == 201
    body = response.json()
    assert body["service_status"] == "New Request"
    assert body["version"] == 1
    assert body["created_at"] == body["updated_at"]
    assert response.headers["location"].endswith(f"/requests/ABC%20123/{body['service_id']}")
    stored = await raw_item(dynamodb, table, "ABC 123", body["service_id"])
    assert stored is not None
    assert stored["phone_number"] == {"S": "208-444-5555"}
    assert stored["version"] == {"N": "1"}
    followed = await api.get(response.headers["location"])
    assert followed.json() == body


async def test_create_strips_surrounding_whitespace(api: httpx.AsyncClient) -> None:
    body = await create(api, license_plate="  8B1111 ", service_description="\tBrakes \n")
    assert body["license_plate"] == "8B1111"
    assert body["service_description"] == "Brakes"


async def test_generated_ids_are_strings_that_sort_by_creation(api: httpx.AsyncClient) -> None:
    ids = [(await create(api))["service_id"] for _ in range(5)]
    assert all(isinstance(i, str) for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


async def test_create_with_a_given_status_and_completed_stamps_completion_date(
    api: httpx.AsyncClient,
) -> None:
    body = await create(api, service_status="Completed")
    assert body["service_status"] == "Completed"
    assert body["completion_date"] == body["created_at"]


async def test_create_with_an_existing_service_id_is_409_and_keeps_the_original(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await create(api, service_id="1", phone_number="208-444-5555")
    response = await api.post("/requests", json=new_request(service_id="1", phone_number="208-000-0000"))
    assert response.status_code == 409
    assert response.json()["code"] == "already_exists"
    stored = await raw_item(dynamodb, table, "8B1111", "1")
    assert stored is not None
    assert stored["phone_number"] == {"S": "208-444-5555"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("license_plate", ""),
        ("license_plate", "   "),
        ("license_plate", "X" * 41),
        ("license_plate", "8B\x1b1111"),
        ("license_plate", ".."),
        ("phone_number", "call me\x1b"),
        ("phone_number", ""),
        ("phone_number", "1" * 101),
        ("service_description", ""),
        ("service_description", "x" * 10_001),
        ("service_description", "bell\x07"),
        ("service_status", "Done"),
        ("service_id", "has space"),
        ("service_id", "x" * 65),
    ],
)
async def test_invalid_create_is_422_naming_the_field_and_writes_nothing(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, field: str, value: str
) -> None:
    response = await api.post("/requests", json=new_request(**{field: value}))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    assert [f["field"] for f in body["fields"]] == [field]
    assert body["fields"][0]["location"] == "body"
    assert await count_items(dynamodb, table) == 0


async def test_a_bad_status_lists_the_allowed_ones(api: httpx.AsyncClient) -> None:
    response = await api.post("/requests", json=new_request(service_status="Done"))
    message = response.json()["fields"][0]["message"]
    assert all(f"'{status.value}'" in message for status in Status)


@pytest.mark.parametrize(
    "body",
    [
        {"license_plate": "8B1111", "phone_number": "208-444-5555"},
        {**new_request(), "owner": "someone"},
        {**new_request(), "phone_number": None},
    ],
    ids=["missing field", "unknown field", "null field"],
)
async def test_create_refuses_incomplete_or_unknown_bodies(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, body: dict[str, object]
) -> None:
    response = await api.post("/requests", json=body)
    assert response.status_code == 422
    assert response.json()["fields"]
    assert await count_items(dynamodb, table) == 0


async def test_malformed_json_is_a_422_json_error(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/requests", content=b'{"license_plate": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


async def test_get_returns_the_item_or_404(api: httpx.AsyncClient) -> None:
    created = await create(api)
    found = await api.get(f"/requests/8B1111/{created['service_id']}")
    assert found.status_code == 200
    assert found.json() == created
    missing = await api.get("/requests/8B1111/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_patch_changes_only_the_given_fields_and_counts_the_version(api: httpx.AsyncClient) -> None:
    created = await create(api)
    path = f"/requests/8B1111/{created['service_id']}"
    response = await api.patch(path, json={"service_status": "Accepted", "phone_number": " 208-111-2222 "})
    assert response.status_code == 200
    updated = response.json()
    assert updated["service_status"] == "Accepted"
    assert updated["phone_number"] == "208-111-2222"
    assert updated["service_description"] == created["service_description"]
    assert updated["version"] == 2
    assert updated["updated_at"] >= created["updated_at"]
    assert "completion_date" not in updated
    assert (await api.get(path)).json() == updated


async def test_completion_date_is_set_when_completed_and_cleared_when_reopened(
    api: httpx.AsyncClient,
) -> None:
    created = await create(api, service_status="Being Serviced")
    path = f"/requests/8B1111/{created['service_id']}"
    completed = (await api.patch(path, json={"service_status": "Completed"})).json()
    assert completed["completion_date"] == completed["updated_at"]
    again = (await api.patch(path, json={"service_status": "Completed"})).json()
    assert again["completion_date"] == completed["completion_date"], "completing twice keeps the first date"
    reopened = (await api.patch(path, json={"service_status": "Waiting for Parts"})).json()
    assert "completion_date" not in reopened


async def test_patch_of_a_missing_request_is_404_and_creates_nothing(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    response = await api.patch("/requests/8B1111/ghost", json={"service_status": "Accepted"})
    assert response.status_code == 404
    assert await count_items(dynamodb, table) == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"service_status": "Finished"}, {"service_status": None}, {"license_plate": "OTHER"}],
    ids=["empty", "bad status", "null", "key field"],
)
async def test_invalid_patch_is_422_and_changes_nothing(
    api: httpx.AsyncClient, body: dict[str, object]
) -> None:
    created = await create(api)
    path = f"/requests/8B1111/{created['service_id']}"
    response = await api.patch(path, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert (await api.get(path)).json() == created


async def test_delete_removes_the_request_then_404(api: httpx.AsyncClient) -> None:
    created = await create(api)
    path = f"/requests/8B1111/{created['service_id']}"
    deleted = await api.delete(path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await api.get(path)).status_code == 404
    assert (await api.delete(path)).status_code == 404


@pytest.mark.parametrize("plate", ["x" * 1025, "\u00e9" * 513])
async def test_keys_no_table_could_hold_are_422_naming_the_parameter(
    api: httpx.AsyncClient, plate: str
) -> None:
    response = await api.get(f"/requests/{quote(plate, safe='')}/1")
    assert response.status_code == 422
    assert response.json()["fields"][0] == {
        "field": "license_plate",
        "location": "path",
        "message": response.json()["fields"][0]["message"],
    }


async def test_unknown_route_and_method_use_the_error_shape(api: httpx.AsyncClient) -> None:
    missing = await api.get("/nothing/here")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = await api.put("/requests/active")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


async def test_every_answer_says_nosniff_the_500_of_a_bug_included(settings: Settings, table: str) -> None:
    """The unhandled error's 500 is answered outside the middleware that marks every other answer; like every
    refusal, it says no-store."""
    app = create_app(settings)

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("a bug, not a caller's mistake")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
        answers = [
            await api.get("/healthz"),
            await api.get("/service-request"),
            await api.get("/requests/active"),
            await api.get("/nothing/here"),
            await api.put("/requests/active"),
            await api.post("/requests", content=b" " * (settings.max_body_bytes + 1)),
            await api.get("/explode"),
        ]
    assert [response.status_code for response in answers] == [200, 200, 401, 404, 405, 413, 500]
    for response in answers:
        assert response.headers.get("x-content-type-options") == "nosniff", response.status_code
    for refusal in answers[2:]:
        assert refusal.headers.get("cache-control") == "no-store", refusal.status_code


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/requests/active", "GET"),
        ("PUT", "/requests", "GET, POST"),
        ("POST", "/requests/8B1111/1", "GET, PATCH, DELETE"),
        ("DELETE", "/service-request", "GET, POST"),
        ("GET", "/admin-service-request/1", "PUT"),
        ("HEAD", "/healthz", "GET"),
        ("POST", "/openapi.json", "GET, HEAD"),
    ],
)
async def test_a_405_names_every_method_the_path_is_served_with(
    api: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


async def test_unicode_text_round_trips(api: httpx.AsyncClient) -> None:
    created = await create(api, service_description="Frein arrière — bruit «grinçant» 🚗")
    fetched = await api.get(f"/requests/8B1111/{created['service_id']}")
    assert fetched.json()["service_description"] == "Frein arrière — bruit «grinçant» 🚗"
