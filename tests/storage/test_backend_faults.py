"""DynamoDB faults become 503 JSON errors, and the service serves again once DynamoDB is back."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from typing import TYPE_CHECKING

import httpx
import pytest

from service.core.settings import Settings
from service.storage.backend import open_client
from service.storage.guard import missing_table
from service.storage.tables import ensure_table, ensure_tables
from tests.support.cognito import UserPool
from tests.support.helpers import FORM, api_client, count_items, make_settings, new_request
from tests.support.servers import Answer, Request, free_port, json_server, moto_server

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

KEY = {"Idempotency-Key": "3f6c1f0e-8d7b-4a51-9f2e-0c1b2a3d4e5f"}


@pytest.fixture
def down_settings() -> Settings:
    """Settings pointing at a port of 127.0.0.1 where nothing listens (yet)."""
    return make_settings(f"http://127.0.0.1:{free_port()}")


@pytest.fixture
async def down_api(down_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(down_settings) as client:
        yield client


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["code"] == "backend_unavailable"
    assert "Traceback" not in response.text
    assert "botocore" not in response.text


@pytest.mark.moto_only("starts a moto server of its own where DynamoDB was unreachable")
async def test_unreachable_dynamodb_is_503_then_the_same_app_recovers(
    down_api: httpx.AsyncClient, down_settings: Settings
) -> None:
    started = time.monotonic()
    _assert_unavailable(await down_api.get("/requests/active"))
    _assert_unavailable(await down_api.post("/requests", json=new_request()))
    _assert_unavailable(await down_api.get("/readyz"))
    assert time.monotonic() - started < 10
    assert (await down_api.get("/healthz")).status_code == 200

    assert down_settings.dynamodb_endpoint is not None
    port = int(down_settings.dynamodb_endpoint.rsplit(":", 1)[1])
    with moto_server(port):
        async with AsyncExitStack() as stack:
            await ensure_tables(await open_client(down_settings, stack), down_settings)
        assert (await down_api.get("/readyz")).status_code == 200
        created = await down_api.post("/requests", json=new_request(service_status="Accepted"))
        assert created.status_code == 201
        active = (await down_api.get("/requests/active")).json()["items"]
        assert [i["service_id"] for i in active] == [created.json()["service_id"]]


async def test_a_missing_table_is_503_naming_it_and_how_to_create_it(
    settings: Settings, user_pool: UserPool
) -> None:
    async with api_client(
        settings, token=user_pool.token()
    ) as api:  # no `table` fixture: the table does not exist
        response = await api.get("/vehicles/8B1111/requests")
        _assert_unavailable(response)
        assert response.json()["message"] == missing_table(settings.table_name)
        _assert_unavailable(await api.get("/readyz"))


async def test_without_the_idempotency_key_table_the_503_names_it_and_readyz_reports_it(
    settings: Settings, dynamodb: DynamoDBClient, user_pool: UserPool
) -> None:
    """Pointed at a table created as the lab creates it, by hand and alone: a request with an
    Idempotency-Key, which cannot be honoured without the table of its records, is a 503 that says which
    table is missing and how to create it, and so is /readyz. The public form without a key still takes the
    customer's request (without its limits and duplicate check), and the lists still answer."""
    await ensure_table(dynamodb, settings.table_name)
    expected = missing_table(settings.idempotency_table_name)
    assert "make init-table" in expected
    try:
        async with api_client(settings, token=user_pool.token()) as api:
            answers = [
                await api.post("/requests", json=new_request(), headers=KEY),
                await api.post("/service-request", json=FORM, headers={**KEY, "Authorization": ""}),
                await api.get("/readyz"),
            ]
            for response in answers:
                _assert_unavailable(response)
                assert response.json()["message"] == expected
            assert await count_items(dynamodb, settings.table_name) == 0
            form = await api.post("/service-request", json=FORM, headers={"Authorization": ""})
            assert (form.status_code, form.json()) == (201, "Successfully added new service request")
            assert await count_items(dynamodb, settings.table_name) == 1
            assert (await api.get("/service-request")).status_code == 200

            await ensure_tables(dynamodb, settings)  # what `make init-table` does
            assert (await api.get("/readyz")).status_code == 200
            assert (await api.post("/requests", json=new_request(), headers=KEY)).status_code == 201
    finally:
        for table in (settings.table_name, settings.idempotency_table_name):
            with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
                await dynamodb.delete_table(TableName=table)


@pytest.mark.moto_only("stops and restarts a moto server of its own")
async def test_dynamodb_stopping_and_restarting_under_a_running_service(user_pool: UserPool) -> None:
    """moto on a fixed port goes away and comes back (its data kept); the same app serves throughout."""
    port = free_port()
    settings = make_settings(f"http://127.0.0.1:{port}")
    with ExitStack() as first_server:
        first_server.enter_context(moto_server(port))
        async with AsyncExitStack() as stack:
            await ensure_tables(await open_client(settings, stack), settings)
        async with api_client(settings) as api:
            created = await api.post("/requests", json=new_request(service_status="Accepted"))
            assert created.status_code == 201
            path = created.headers["location"]

            first_server.close()  # DynamoDB goes away under the running app
            started = time.monotonic()
            _assert_unavailable(await api.get(path))
            _assert_unavailable(await api.get("/requests/active"))
            _assert_unavailable(await api.get("/readyz"))
            assert time.monotonic() - started < 3 * settings.dynamodb_deadline

            with moto_server(port):
                assert (await api.get(path)).json() == created.json()
                assert (await api.get("/readyz")).status_code == 200


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP port that accepts connections and never answers, like a DynamoDB that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@pytest.mark.parametrize(
    ("read_timeout", "attempts", "deadline"),
    [(0.3, 2, 5.0), (5.0, 3, 1.0)],
    ids=["timeouts and retries give up first", "the deadline cuts retries short"],
)
async def test_a_hanging_dynamodb_is_503_within_the_bound(
    silent_endpoint: str, read_timeout: float, attempts: int, deadline: float
) -> None:
    settings = make_settings(
        silent_endpoint,
        dynamodb_read_timeout=read_timeout,
        dynamodb_max_attempts=attempts,
        dynamodb_deadline=deadline,
    )
    async with api_client(settings) as api:
        started = time.monotonic()
        response = await api.get("/requests/active")
        elapsed = time.monotonic() - started
    _assert_unavailable(response)
    assert elapsed < deadline + 0.5
    if read_timeout * attempts > deadline:
        assert response.json()["message"] == f"DynamoDB did not answer within {deadline:g} s"


@pytest.fixture
def throttling_endpoint() -> Iterator[tuple[str, list[str]]]:
    """A DynamoDB endpoint that answers every call with ThrottlingException; records each call."""
    calls: list[str] = []

    def throttle(request: Request) -> Answer:
        calls.append(request.headers.get("X-Amz-Target", ""))
        return Answer(
            400,
            {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"},
            content_type="application/x-amz-json-1.0",
        )

    with json_server(throttle) as endpoint:
        yield endpoint, calls


async def test_throttling_is_retried_with_backoff_then_503(
    throttling_endpoint: tuple[str, list[str]],
) -> None:
    endpoint, calls = throttling_endpoint
    settings = make_settings(endpoint, dynamodb_max_attempts=3, dynamodb_deadline=15.0)
    async with api_client(settings) as api:
        started = time.monotonic()
        response = await api.get("/vehicles/8B1111/requests")
        elapsed = time.monotonic() - started
    _assert_unavailable(response)
    assert response.json()["message"] == "DynamoDB is throttling requests"
    assert calls == ["DynamoDB_20120810.Query"] * 3
    assert elapsed > 0.05, "botocore backs off between attempts"
