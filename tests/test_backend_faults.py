"""DynamoDB faults become 503 JSON errors, and the service serves again once DynamoDB is back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from moto.server import ThreadedMotoServer

from service.dynamo import open_client
from service.settings import Settings
from service.table import ensure_table
from tests.cognito import UserPool
from tests.helpers import api_client, make_settings, new_request
from tests.process import free_port


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
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        async with AsyncExitStack() as stack:
            await ensure_table(await open_client(down_settings, stack), down_settings.table_name)
        assert (await down_api.get("/readyz")).status_code == 200
        created = await down_api.post("/requests", json=new_request(service_status="Accepted"))
        assert created.status_code == 201
        active = (await down_api.get("/requests/active")).json()["items"]
        assert [i["service_id"] for i in active] == [created.json()["service_id"]]
    finally:
        server.stop()


async def test_a_missing_table_is_503_naming_the_cause(settings: Settings, user_pool: UserPool) -> None:
    async with api_client(
        settings, token=user_pool.token()
    ) as api:  # no `table` fixture: the table does not exist
        response = await api.get("/vehicles/8B1111/requests")
        _assert_unavailable(response)
        assert response.json()["message"] == "the service-request table does not exist"
        _assert_unavailable(await api.get("/readyz"))
