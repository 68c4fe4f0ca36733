"""Fixtures: a DynamoDB-protocol server (moto or dynalite) for the session, a fresh table per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from service.core.settings import Settings
from service.http.app import create_app
from service.storage.backend import open_client
from service.storage.tables import ensure_tables
from tests.support.cognito import CLIENT_ID, POOL_ID, UserPool, serve_user_pool
from tests.support.helpers import ManualClock, api_client, make_settings, served
from tests.support.servers import dynalite_server, moto_server

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


# Which DynamoDB implementation the integration tests talk to: moto's server (the default) or dynalite.
SERVERS = ("moto", "dynalite")
SERVER = os.environ.get("DYNAMODB_TEST_SERVER", "moto")


def pytest_configure(config: pytest.Config) -> None:
    if SERVER not in SERVERS:
        raise pytest.UsageError(f"DYNAMODB_TEST_SERVER={SERVER}: expected one of {', '.join(SERVERS)}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # moto applies each write as read, modify, write without a lock, so concurrent writes to one item
    # can lose each other there; DynamoDB and dynalite apply each atomically, as the service relies on.
    skipped = "atomic_writes" if SERVER == "moto" else "moto_only"
    for item in items:
        marker = item.get_closest_marker(skipped)
        if marker is not None:
            reason = marker.args[0] if marker.args else skipped
            item.add_marker(pytest.mark.skip(reason=f"not run on {SERVER}: {reason}"))


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """The DynamoDB-protocol server of this run (DYNAMODB_TEST_SERVER), on 127.0.0.1, for the session."""
    with moto_server() if SERVER == "moto" else dynalite_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def user_pool() -> Iterator[UserPool]:
    with serve_user_pool() as pool:
        yield pool


@pytest.fixture
def settings(dynamodb_endpoint: str, user_pool: UserPool) -> Settings:
    """Technicians are checked as in production: Cognito ID tokens verified against the pool's keys."""
    return make_settings(
        dynamodb_endpoint,
        auth_mode="jwt",
        cognito_user_pool_id=POOL_ID,
        cognito_client_id=CLIENT_ID,
        jwks_url=user_pool.jwks_url,
    )


@pytest.fixture
async def dynamodb(settings: Settings) -> AsyncIterator[DynamoDBClient]:
    """A plain DynamoDB client for what tests set up or inspect behind the API's back."""
    async with AsyncExitStack() as stack:
        yield await open_client(settings, stack)


@pytest.fixture
async def table(settings: Settings, dynamodb: DynamoDBClient) -> AsyncIterator[str]:
    await ensure_tables(dynamodb, settings)
    yield settings.table_name
    await dynamodb.delete_table(TableName=settings.table_name)
    await dynamodb.delete_table(TableName=settings.idempotency_table_name)


@pytest.fixture
async def api(settings: Settings, table: str, user_pool: UserPool) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app that sends a valid technician's token unless a test overrides the header."""
    async with api_client(settings, token=user_pool.token()) as client:
        yield client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> FastAPI:
    """A fresh app that reads the time from `clock` (limits, Idempotency-Key leases, the public list)."""
    return create_app(settings, clock=clock)


@pytest.fixture
async def app_api(app: FastAPI, table: str, user_pool: UserPool) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app`, sending a valid technician's token unless a test overrides the header."""
    async with served(app, token=user_pool.token()) as client:
        yield client
