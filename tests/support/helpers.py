"""Small helpers shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from service.core.settings import Settings
from service.http.app import create_app

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


REGION = "us-east-1"

# The lab's second request, as a customer types it into the website's form.
FORM = {
    "service_description": "Brakes for a 08 Mazda 3",
    "phone_number": "208-867-5309",
    "license_plate": "1J1957",
}


def make_settings(endpoint: str, **overrides: Any) -> Settings:
    """Settings for a test, independent of whatever the developer's environment holds."""
    suffix = uuid4().hex[:12]
    values: dict[str, Any] = {
        "dynamodb_mode": "endpoint",
        "dynamodb_endpoint": endpoint,
        "aws_region": REGION,
        "table_name": f"VehicleServices-{suffix}",
        "idempotency_table_name": f"VehicleServicesIdempotency-{suffix}",
        "cursor_secret": "cursor-secret-for-tests",
        "cors_origins": [],
        "auth_mode": "none",
        "dynamodb_connect_timeout": 1.0,
        "dynamodb_read_timeout": 2.0,
        "dynamodb_max_attempts": 2,
        **overrides,
    }
    return Settings(**values)


class ManualClock:
    """A clock that stands still until a test moves it: what limits, leases and caches read instead of the
    time. It starts a little after the start of a whole hour, so that windows of a minute or more start on
    it predictably."""

    def __init__(self, now: float = 1_795_708_800.0 + 0.5) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def api_client(
    settings: Settings, *, token: str | None = None
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """An HTTP client for a fresh app, in process, with the app's lifespan running."""
    return served(create_app(settings), token=token)


@asynccontextmanager
async def served(app: FastAPI, *, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for `app`, in process, with the app's lifespan running."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://localhost", headers=headers
        ) as client,
    ):
        yield client


def new_request(**overrides: Any) -> dict[str, Any]:
    """A valid create body; keyword arguments replace or add fields."""
    return {
        "license_plate": "8B1111",
        "phone_number": "208-444-5555",
        "service_description": "Oil Change on a 2007 Saturn Outlook",
        **overrides,
    }


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post("/requests", json=new_request(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def put_raw(dynamodb: DynamoDBClient, table: str, **attributes: str) -> None:
    """Write an item the way the AWS console or the lab's Node code does: plain strings, nothing else."""
    await dynamodb.put_item(TableName=table, Item={k: {"S": v} for k, v in attributes.items()})


async def raw_item(
    dynamodb: DynamoDBClient, table: str, plate: str, service_id: str
) -> dict[str, Any] | None:
    response = await dynamodb.get_item(
        TableName=table, Key={"license_plate": {"S": plate}, "service_id": {"S": service_id}}
    )
    item: dict[str, Any] | None = response.get("Item")
    return item


async def count_items(dynamodb: DynamoDBClient, table: str) -> int:
    response = await dynamodb.scan(TableName=table, Select="COUNT")
    return response["Count"]


async def all_pages(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list, following next_cursor; checks each page keeps to the limit."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params.get("limit", 100)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
