"""A stand-in for DynamoDB on 127.0.0.1 that answers every call with an empty result: the client's whole
request path (serialising, signing, its connection pool, sending, parsing) runs without reaching DynamoDB."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest
    from types_aiobotocore_dynamodb import DynamoDBClient

HOST = "127.0.0.1"
_EMPTY_READ = {"Items": [], "Count": 0, "ScannedCount": 0}
# The answer to each operation (the end of X-Amz-Target); any other gets {}: a write that succeeded, an item
# that does not exist.
_ANSWERS: dict[str, dict[str, Any]] = {"Query": _EMPTY_READ, "Scan": _EMPTY_READ}


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length") or 0))
        operation = headers.get("x-amz-target", "").rpartition(".")[2]
        body = json.dumps(_ANSWERS.get(operation, {})).encode()
        # Connection: close, so the client keeps no connection to the stand-in in its pool.
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
    finally:
        writer.close()


@asynccontextmanager
async def answered_locally(client: DynamoDBClient) -> AsyncIterator[None]:
    """Within this, every call of `client` is sent to a stand-in on 127.0.0.1 instead of its endpoint, and
    answered with an empty result. Nothing leaves the machine and no connection stays open afterwards."""
    server = await asyncio.start_server(_answer, HOST, 0)
    port = server.sockets[0].getsockname()[1]

    def to_stand_in(request: AWSPreparedRequest, **_: Any) -> None:
        # Sent after signing, as the real call would be: only where it goes changes.
        request.url = f"http://{HOST}:{port}/"

    client.meta.events.register_first("before-send.dynamodb", to_stand_in)
    try:
        yield
    finally:
        client.meta.events.unregister("before-send.dynamodb", to_stand_in)
        server.close()
        await server.wait_closed()
