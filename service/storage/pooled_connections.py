"""The idle connections an aiobotocore client keeps for reuse, closed while its pools stay open: neither
aiobotocore nor aiohttp has a public way to do it.

Written for aiobotocore 2.25.1 and aiohttp 3.14.5. It reads `client._endpoint.http_session._sessions`
(aiobotocore's AIOHTTPSession: a dict of one aiohttp ClientSession per proxy, made on the first call) and
each session's connector's `_conns` (aiohttp's idle connections: a dict of deques of (protocol, last use)).
Where they are gone or of another shape it raises InternalsChanged naming these versions, and
tests/storage/test_pooled_connections.py fails.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, cast

from aiohttp import BaseConnector, ClientSession, TCPConnector

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

WRITTEN_FOR = {"aiobotocore": "2.25.1", "aiohttp": "3.14.5"}

# aiohttp's idle connections of one connector: per host, (protocol, when last used).
IdleConnections = MutableMapping[object, Sequence[tuple[Any, float]]]


class InternalsChanged(RuntimeError):
    """The installed aiobotocore or aiohttp keeps its pools otherwise than the versions read here."""

    def __init__(self, what: str) -> None:
        written = " and ".join(f"{name} {pinned}" for name, pinned in WRITTEN_FOR.items())
        installed = ", ".join(f"{name} {version(name)}" for name in WRITTEN_FOR)
        super().__init__(f"{what}: {__name__} was written for {written} (installed: {installed})")


def pools(client: DynamoDBClient) -> list[BaseConnector]:
    """The client's connection pools: one per proxy its calls went through, none before its first call."""
    try:
        sessions = cast(Any, client)._endpoint.http_session._sessions
    except AttributeError as error:
        raise InternalsChanged(f"no client._endpoint.http_session._sessions ({error})") from error
    if not isinstance(sessions, dict) or not all(isinstance(s, ClientSession) for s in sessions.values()):
        raise InternalsChanged(f"client._endpoint.http_session._sessions is not aiohttp's: {sessions!r}")
    return [session.connector for session in sessions.values() if session.connector is not None]


def idle_connections(connector: BaseConnector) -> IdleConnections:
    """The connections `connector` keeps for reuse, by host."""
    idle = getattr(connector, "_conns", None)
    if not isinstance(idle, dict):
        raise InternalsChanged(f"an aiohttp connector's _conns is {idle!r}, not a dict of idle connections")
    return cast(IdleConnections, idle)


def close_idle(connector: BaseConnector) -> None:
    """Close the connections `connector` keeps for reuse and forget them; the connector itself stays open."""
    idle = idle_connections(connector)
    for connections in idle.values():
        for protocol, _ in connections:
            protocol.close()
    idle.clear()


def drop_idle(client: DynamoDBClient) -> None:
    """Close the client's kept connections and forget the addresses its pools resolved. The next call
    connects anew, through the same pools."""
    for connector in pools(client):
        if isinstance(connector, TCPConnector):
            connector.clear_dns_cache()
        close_idle(connector)
