"""The reach into aiobotocore's and aiohttp's connection pools (service/storage/pooled_connections.py): it
finds a real client's pool and closes the connections kept in it, on the versions it names, and fails naming
them when the installed libraries differ."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AsyncExitStack
from importlib.metadata import version
from typing import Any, cast

import pytest
from aiohttp import TCPConnector
from aiohttp.client_proto import ResponseHandler

from service.core.settings import Settings
from service.storage import pooled_connections
from service.storage.backend import open_client
from service.storage.pooled_connections import (
    WRITTEN_FOR,
    InternalsChanged,
    drop_idle,
    idle_connections,
    pools,
)
from tests.conftest import SERVER
from tests.support.servers import Answer, Request, json_server, tcp_relay
from tests.support.written_for import assert_installed_as_written_for

PINNED = " and ".join(f"{name} {pinned}" for name, pinned in WRITTEN_FOR.items())


def _no_tables(request: Request) -> Answer:
    return Answer(200, {"TableNames": []}, content_type="application/x-amz-json-1.0")


@pytest.fixture
def keeping_endpoint(dynamodb_endpoint: str) -> Iterator[str]:
    """A DynamoDB-protocol server that keeps a connection open after its answer: this run's server, or on
    moto, which closes each connection after its answer, a stand-in that answers ListTables."""
    if SERVER == "moto":
        with json_server(_no_tables, keep_alive=True) as url:
            yield url
    else:
        yield dynamodb_endpoint


def _kept(connections: pooled_connections.IdleConnections) -> list[tuple[Any, float]]:
    return [connection for by_host in connections.values() for connection in by_host]


@pytest.mark.parametrize("library", sorted(WRITTEN_FOR))
def test_the_installed_libraries_are_the_versions_the_reach_in_was_written_for(library: str) -> None:
    assert_installed_as_written_for(pooled_connections, library)


async def test_a_clients_pool_is_found_after_its_first_call(settings: Settings) -> None:
    """On this run's server, whether or not it keeps its connections (moto closes each one)."""
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        assert pools(client) == [], "aiobotocore makes its aiohttp session on the first call"
        await client.list_tables()
        [pool] = pools(client)
        assert isinstance(pool, TCPConnector)
        assert not pool.closed
        for protocol, last_used in _kept(idle_connections(pool)):
            assert isinstance(protocol, ResponseHandler)
            assert isinstance(last_used, float)
        assert pools(client) == [pool], "the same pool for every call"


async def test_the_connections_a_client_keeps_are_closed_and_its_pool_stays(
    settings: Settings, keeping_endpoint: str
) -> None:
    with tcp_relay(keeping_endpoint) as (url, relay):
        async with AsyncExitStack() as stack:
            client = await open_client(settings.model_copy(update={"dynamodb_endpoint": url}), stack)
            await client.list_tables()
            [pool] = pools(client)
            kept = _kept(idle_connections(pool))
            assert len(kept) == relay.open == 1, "the client keeps its connection for the next call"
            [(protocol, _)] = kept
            assert isinstance(protocol, ResponseHandler)

            drop_idle(client)

            assert idle_connections(pool) == {}
            # The socket closes on the loop's next turns: wait for it off the loop.
            assert await asyncio.to_thread(relay.wait_until_closed), "the kept connection is closed"
            assert pools(client) == [pool]
            assert not pool.closed, "the pool stays, with its TLS context"
            await client.list_tables()
            assert relay.made == 2, "the next call connects anew"


@pytest.mark.parametrize(
    "reach",
    [
        pytest.param(lambda: pools(cast(Any, object())), id="no client._endpoint"),
        pytest.param(lambda: idle_connections(cast(Any, object())), id="no connector._conns"),
    ],
)
def test_a_missing_internal_fails_naming_the_versions_written_for(reach: Any) -> None:
    with pytest.raises(InternalsChanged) as raised:
        reach()
    installed = f"installed: aiobotocore {version('aiobotocore')}, aiohttp {version('aiohttp')}"
    assert PINNED in str(raised.value)
    assert installed in str(raised.value)
