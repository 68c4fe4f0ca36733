"""Small helpers shared by the integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import httpx
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


REGION = "us-east-1"
# The commands the container runs (Dockerfile, docker-compose.yml), which the tests run as they are.
SERVE_COMMAND = ("python", "-m", "service", "serve")
INIT_TABLE_COMMAND = ("python", "-m", "service", "init-table", "--seed")
HEALTHCHECK_COMMAND = ("python", "-m", "service", "healthcheck")


def as_run_here(command: tuple[str, ...]) -> list[str]:
    """`command` with this test run's interpreter in place of the image's `python`."""
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def make_settings(endpoint: str, **overrides: Any) -> Settings:
    """Settings for a test, independent of whatever the developer's environment holds."""
    values: dict[str, Any] = {
        "dynamodb_mode": "endpoint",
        "dynamodb_endpoint": endpoint,
        "aws_region": REGION,
        "table_name": f"VehicleServices-{uuid4().hex[:12]}",
        "cursor_secret": "cursor-secret-for-tests",
        "cors_origins": [],
        "dynamodb_connect_timeout": 1.0,
        "dynamodb_read_timeout": 2.0,
        "dynamodb_max_attempts": 2,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for a fresh app, in process, with the app's lifespan running."""
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        ) as client,
    ):
        yield client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    """A `python -m service serve` process: its base URL, and its output once it has stopped."""

    url: str
    process: subprocess.Popen[str]
    output: str = field(default="")


@contextmanager
def serving(**env: str) -> Iterator[Served]:
    """`python -m service serve` on a free port with embedded DynamoDB, as `make run` starts it.

    Waits until /readyz answers; on exit stops it with SIGTERM, as a container runtime does, and keeps
    its output.
    """
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DYNAMODB_MODE": "embedded",
        "PORT": str(port),
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        as_run_here(SERVE_COMMAND),
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(url=f"http://127.0.0.1:{port}", process=process)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server exited early"
            try:
                if httpx.get(f"{served.url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        served.output, _ = process.communicate(timeout=30)


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
