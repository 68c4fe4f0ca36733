"""Fixtures: moto's DynamoDB server over HTTP for the session, and a fresh table for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import httpx
import pytest
from moto.server import ThreadedMotoServer

from service.dynamo import open_client
from service.settings import Settings
from service.table import ensure_tables
from tests.cognito import CLIENT_ID, POOL_ID, UserPool, serve_user_pool
from tests.helpers import api_client, make_settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def user_pool() -> Iterator[UserPool]:
    with serve_user_pool() as pool:
        yield pool


@pytest.fixture
def settings(moto_endpoint: str, user_pool: UserPool) -> Settings:
    """Technicians are checked as in production: Cognito ID tokens verified against the pool's keys."""
    return make_settings(
        moto_endpoint,
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
