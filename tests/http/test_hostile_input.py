"""Hostile input: oversized bodies, odd unicode, very long keys; always a 4xx JSON error, never a 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote

import httpx
import pytest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message

from service.core.models import (
    ACTOR_MAX,
    HISTORY_MAX,
    KeyText,
    ServiceRequest,
    ServiceRequestCreate,
    ServiceRequestUpdate,
    Status,
)
from service.core.settings import Settings
from service.http.app import create_app
from tests.support.cognito import UserPool
from tests.support.helpers import api_client, create, new_request

pytestmark = pytest.mark.fuzz
JSON = {"Content-Type": "application/json"}
WEBSITE = "https://quick-oil.example"

LIMIT = Settings.model_fields["max_body_bytes"].default


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert set(body) == {"code", "message", "fields"}
    return body


def _padded_body(size: int) -> bytes:
    """A valid create body padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps(new_request()).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def _chunks(body: bytes, size: int = 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_declared_body_over_the_limit_is_413_before_any_read(api: httpx.AsyncClient) -> None:
    response = await api.post("/requests", content=_padded_body(LIMIT + 1), headers=JSON)
    _assert_error(response, 413, "body_too_large")
    assert (await api.get("/vehicles/8B1111/requests")).json()["items"] == []


async def test_a_chunked_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    # An async iterator makes httpx send no Content-Length: the body can only be counted as it comes.
    request = api.build_request("POST", "/requests", content=_chunks(_padded_body(LIMIT + 1)), headers=JSON)
    assert "content-length" not in request.headers
    _assert_error(await api.send(request), 413, "body_too_large")
    public = api.build_request(
        "POST", "/service-request", content=_chunks(_padded_body(4 * LIMIT)), headers=JSON
    )
    _assert_error(await api.send(public), 413, "body_too_large")
    assert (await api.get("/vehicles/8B1111/requests")).json()["items"] == []


@pytest.mark.parametrize("path", ["/requests", "/service-request"])
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_413_is_readable_by_a_granted_page_and_never_cached(
    settings: Settings, table: str, user_pool: UserPool, path: str, chunked: bool
) -> None:
    """Whether the length is declared (refused before any route is found) or counted as the body comes, the
    413 carries the page's grant, nosniff and no-store, as the technicians' refusals do."""
    granted = settings.model_copy(update={"cors_origins": [WEBSITE]})
    async with api_client(granted, token=user_pool.token()) as api:
        body = _padded_body(LIMIT + 1)
        request = api.build_request(
            "POST", path, content=_chunks(body) if chunked else body, headers={**JSON, "Origin": WEBSITE}
        )
        assert ("content-length" in request.headers) is not chunked
        response = await api.send(request)
        _assert_error(response, 413, "body_too_large")
        # The public form grants any page.
        assert response.headers["access-control-allow-origin"] == (WEBSITE if path == "/requests" else "*")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert (await api.get("/vehicles/8B1111/requests")).json()["items"] == []


async def test_a_route_that_reads_no_body_does_nothing_for_a_declared_length_over_the_limit(
    api: httpx.AsyncClient,
) -> None:
    """A DELETE reads no body: answered 413 for its declared length, it must not have deleted anything."""
    created = await create(api)
    url = f"/requests/8B1111/{created['service_id']}"
    response = await api.request("DELETE", url, content=b" " * (LIMIT + 1))
    _assert_error(response, 413, "body_too_large")
    assert (await api.get(url)).status_code == 200


async def test_bodies_up_to_the_limit_are_served(api: httpx.AsyncClient) -> None:
    assert (await api.post("/requests", content=_padded_body(LIMIT), headers=JSON)).status_code == 201
    chunked = api.build_request("POST", "/requests", content=_chunks(_padded_body(LIMIT)), headers=JSON)
    assert (await api.send(chunked)).status_code == 201


async def test_the_largest_valid_body_fits_under_the_limit(api: httpx.AsyncClient) -> None:
    """10,000 four-byte characters, each escaped as a surrogate pair by the JSON encoder: about 122 KB."""
    body = json.dumps(
        new_request(
            service_description="\U0001f527" * 10_000,
            phone_number="1" + "\U0001f4de" * 99,
            license_plate="\U0001f697" * 40,
        )
    )
    assert len(body) < LIMIT
    assert (await api.post("/requests", content=body, headers=JSON)).status_code == 201


async def test_the_limit_is_a_setting(settings: Settings, table: str) -> None:
    async with api_client(settings.model_copy(update={"max_body_bytes": 2048})) as api:
        _assert_error(
            await api.post("/service-request", content=_padded_body(2049), headers=JSON),
            413,
            "body_too_large",
        )
        assert (
            await api.post("/service-request", content=_padded_body(2048), headers=JSON)
        ).status_code == 201


async def _call_raw(app: ASGIApp, content_length: bytes, body: bytes | None) -> list[Message]:
    """POST /service-request straight to the ASGI app, with any Content-Length; `body` None: reading the
    body fails the test."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/service-request",
        "raw_path": b"/service-request",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", content_length),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        assert body is not None, "the body was read"
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("declared", [str(LIMIT + 1).encode(), b"9" * 5000], ids=["limit+1", "5000 digits"])
async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(
    settings: Settings, declared: bytes
) -> None:
    sent = await _call_raw(create_app(settings), declared, None)
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "body_too_large"


async def test_a_length_in_digits_only_str_isdigit_reads_is_not_a_500(settings: Settings, table: str) -> None:
    """'²' is a digit to str.isdigit but not to int(): no length at all, and the body is read as sent."""
    sent = await _call_raw(create_app(settings), b"\xb2", json.dumps(new_request()).encode())
    assert sent[0]["status"] == 201, sent


ODD_TEXT = {
    "emoji": "\U0001f697\U0001f527",
    "rtl": "\u05de\u05db\u05d5\u05e0\u05d9\u05ea \u0633\u064a\u0627\u0631\u0629",
    "four_byte": "\U00020000\U0010fffd",
    "nul": "8B\x001111",
    "bidi_override": "\u202e1111B8",
    "replacement": "\ufffd",
    "long": "8" * 5000,
    "very_long": "\U0001f600" * 2000,
}


@pytest.mark.parametrize("text", ODD_TEXT.values(), ids=ODD_TEXT.keys())
async def test_odd_keys_in_paths_are_4xx_json(api: httpx.AsyncClient, text: str) -> None:
    key = quote(text, safe="")
    answers = [
        await api.get(f"/requests/{key}/{key}"),
        await api.patch(f"/requests/{key}/1", json={"service_status": "Accepted"}),
        await api.delete(f"/requests/8B1111/{key}"),
        await api.get(f"/vehicles/{key}/requests"),
        await api.get("/requests", params={"status": text}),
        await api.get(f"/admin-service-request/vehicle-history/{key}"),
        await api.put(
            f"/admin-service-request/{key}", json={"license_plate": text, "service_status": "Accepted"}
        ),
    ]
    for response in answers:
        assert response.status_code < 500, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        if response.status_code >= 400:
            assert {"code", "message", "fields"} == set(body)
        else:
            # Only a lookup of a key nobody stored can succeed: an empty list, or the website's answer
            # to an update of a request that does not exist.
            assert body in ([], {"items": [], "next_cursor": None}, "No record found")


RAW_BODIES = {
    "lone_surrogate_value": '{"license_plate": "8B1111", "phone_number": "208-444-5555", '
    '"service_description": "\\ud800"}',
    "lone_surrogate_key": '{"license_plate": "8B1111", "phone_number": "208-444-5555", '
    '"service_description": "ok", "\\udfff": 1}',
    "lone_surrogate_plate": '{"license_plate": "\\ud83d", "phone_number": "208-444-5555", '
    '"service_description": "ok"}',
    "nul_in_description": '{"license_plate": "8B1111", "phone_number": "208-444-5555", '
    '"service_description": "a\\u0000b"}',
    "rtl_override_plate": '{"license_plate": "\\u202e8B1111", "phone_number": "208-444-5555", '
    '"service_description": "ok"}',
    "deep_nesting": '{"license_plate": ' + "[" * 5000 + "]" * 5000 + "}",
    "huge_number": '{"license_plate": 1' + "0" * 4000 + "}",
    "not_utf8": b'{"license_plate": "\xff\xfe"}'.decode("latin-1"),
}


@pytest.mark.parametrize("path", ["/requests", "/service-request", "/admin-service-request/1"])
@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
async def test_odd_json_bodies_are_4xx_json(api: httpx.AsyncClient, path: str, raw: str) -> None:
    method = "PUT" if path.startswith("/admin") else "POST"
    content = raw.encode("latin-1") if "\xff" in raw else raw.encode()
    response = await api.request(method, path, content=content, headers=JSON)
    if raw in (RAW_BODIES["lone_surrogate_key"], RAW_BODIES["rtl_override_plate"]) and path != "/requests":
        # The website's routes ignore fields they do not know, whatever their name; an invisible
        # character in a plate is no reason to lose the customer (the plate is stored without it).
        expected = {"/service-request": 201, "/admin-service-request/1": 200}[path]
        assert response.status_code == expected, response.text
        if path.startswith("/admin"):
            assert response.json() == "No record found"
        return
    if raw == RAW_BODIES["rtl_override_plate"]:
        assert response.status_code == 201, response.text
        assert response.json()["license_plate"] == "8B1111"
        return
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"code", "message", "fields"}
    response.json()["message"].encode()  # whatever it echoes is valid text
    assert (await api.get("/vehicles/8B1111/requests")).json()["items"] == []


UNREADABLE_JSON = {
    # Nested deeper than Python's JSON parser recurses (and still under the body limit).
    "60,000 deep": ('{"license_plate": ' + "[" * 60_000 + "]" * 60_000 + "}", "nested too deeply"),
    # More digits than Python converts to an integer (4,300).
    "4,301 digits": ('{"license_plate": "8B1111", "service_id": 1' + "0" * 4_300 + "}", "4300 digits"),
    "negative, 10,000 digits": ('{"phone_number": -' + "9" * 10_000 + "}", "4300 digits"),
}


@pytest.mark.parametrize("path", ["/requests", "/service-request", "/admin-service-request/1"])
@pytest.mark.parametrize("case", UNREADABLE_JSON, ids=UNREADABLE_JSON.keys())
async def test_json_too_deep_or_numbers_too_long_are_422_naming_the_problem(
    api: httpx.AsyncClient, path: str, case: str
) -> None:
    """Python's JSON parser refuses them with errors FastAPI answers 400: they are invalid bodies like any
    other, and get the same 422."""
    raw, problem = UNREADABLE_JSON[case]
    assert len(raw) < LIMIT
    method = "PUT" if path.startswith("/admin") else "POST"
    response = await api.request(method, path, content=raw, headers=JSON)
    body = _assert_error(response, 422, "validation_failed")
    assert [(f["field"], f["location"]) for f in body["fields"]] == [("body", "body")]
    assert problem in body["fields"][0]["message"]
    assert problem in body["message"]
    if path != "/service-request":
        # A technician's route checks the token before it says what is wrong with the body.
        anonymous = await api.request(method, path, content=raw, headers={**JSON, "Authorization": ""})
        _assert_error(anonymous, 401, "unauthorized")
    assert (await api.get("/vehicles/8B1111/requests")).json()["items"] == []


async def test_unicode_descriptions_are_stored_as_sent(api: httpx.AsyncClient) -> None:
    text = "\u05de\u05db\u05d5\u05e0\u05d9\u05ea \U0001f697 \U00020000 \u0633\u064a\u0627\u0631\u0629"
    created = await api.post("/requests", json=new_request(service_description=text))
    assert created.status_code == 201, created.text
    stored = await api.get(created.headers["location"])
    assert stored.json()["service_description"] == text


def _max_lengths(annotation: Any) -> list[int]:
    """Every max_length in an annotation, looking inside Annotated[...] and unions such as `X | None`."""
    lengths = [annotation.max_length] if isinstance(getattr(annotation, "max_length", None), int) else []
    for argument in get_args(annotation):
        lengths += _max_lengths(argument)
    return lengths


def _max_length(model: type[BaseModel], field: str) -> int:
    info = model.model_fields[field]
    lengths = _max_lengths(info.annotation) + [n for m in info.metadata for n in _max_lengths(m)]
    assert lengths, f"{model.__name__}.{field} has no maximum length: the item size is unbounded"
    return max(lengths)


def _max_path_key_length() -> int:
    lengths = _max_lengths(KeyText)
    assert lengths, "keys in paths have no maximum length"
    return max(lengths)


def test_the_largest_item_the_api_can_write_is_far_below_dynamodbs_limit() -> None:
    """DynamoDB refuses items over 400 KB: bound what the API writes from the models' own limits."""
    utf8 = 4  # the most bytes one character takes in UTF-8, which DynamoDB counts
    texts = {
        # Keys: as created, or as a path may name them (updates never create, but bound them anyway).
        "license_plate": max(_max_length(ServiceRequestCreate, "license_plate"), _max_path_key_length()),
        "service_id": max(_max_length(ServiceRequestCreate, "service_id"), _max_path_key_length()),
        "phone_number": _max_length(ServiceRequestUpdate, "phone_number"),
        "service_description": _max_length(ServiceRequestUpdate, "service_description"),
        "service_status": max(len(s.value) for s in Status),
        "created_at": len("2026-11-26T15:04:05.123Z"),
        "updated_at": len("2026-11-26T15:04:05.123Z"),
        "completion_date": len("2026-11-26T15:04:05.123Z"),
    }
    # A history entry: a status, a time and who, each under its name, at most HISTORY_MAX of them
    # (DynamoDB counts a name's bytes and one byte per list element and per map entry besides).
    entry = sum(
        len(name) + 1 + length
        for name, length in {
            "status": max(len(s.value) for s in Status),
            "at": len("2026-11-26T15:04:05.123Z"),
            "by": utf8 * ACTOR_MAX,
        }.items()
    )
    assert set(texts) | {"version", "status_history"} == set(ServiceRequest.model_fields)
    largest = sum(len(name) + utf8 * length for name, length in texts.items())
    largest += len("version") + 21  # a number takes at most 21 bytes
    largest += len("status_history") + HISTORY_MAX * (entry + 1)
    largest += len("status_changed") + 1  # a boolean takes one byte
    # Well under: a quarter of the limit leaves the rest for attributes added in the console or later.
    assert largest < 400 * 1024 // 4, largest
    design = (Path(__file__).resolve().parents[2] / "docs" / "design.md").read_text(encoding="utf-8")
    assert f"about {round(largest / 1000)} KB" in " ".join(design.split()), "docs/design.md's figure"
