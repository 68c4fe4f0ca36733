"""The relay's checkpoints: how far it got in each shard of the table's stream, one item per shard in the
Idempotency-Key table, under keys that no Idempotency-Key header can carry (they hold spaces)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.storage.expressions import Parameters
from service.storage.guard import ConditionFailed
from service.storage.idempotency import KEY_ATTRIBUTE, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

# Sequence numbers are decimal strings of up to 40 digits; padded, they compare as text in conditions.
_SEQUENCE_DIGITS = 40
# A finished shard's checkpoint is kept this long, past the 24 hours the stream keeps the shard.
_FINISHED_KEPT_SECONDS = 2 * 24 * 3600


def _padded(sequence: str) -> str:
    return sequence.rjust(_SEQUENCE_DIGITS, "0")


@dataclass(frozen=True)
class Checkpoint:
    """How far the relay got in one shard: the last record it is done with, and whether that was the
    shard's last."""

    sequence: str
    finished: bool


class Checkpoints:
    """The checkpoints of one stream, one item per shard. Every call runs inside `guard`."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        stream_arn: str,
        *,
        guard: Callable[[], AbstractAsyncContextManager[None]],
    ) -> None:
        self._client = client
        self._table = table_name
        self._stream_arn = stream_arn
        self._guard = guard

    def _key(self, shard_id: str) -> dict[str, Any]:
        return {KEY_ATTRIBUTE: {"S": f"stream checkpoint {self._stream_arn} {shard_id}"}}

    async def get(self, shard_id: str) -> Checkpoint | None:
        async with self._guard():
            response = await self._client.get_item(
                TableName=self._table, Key=self._key(shard_id), ConsistentRead=True
            )
        item = response.get("Item")
        if item is None:
            return None
        return Checkpoint(item["sequence"]["S"].lstrip("0"), item.get("finished", {}).get("BOOL", False))

    async def advance(self, shard_id: str, sequence: str, *, finished: bool = False) -> None:
        """Record that the shard is done up to `sequence` (and, with `finished`, done): only forward, so
        a slower second relay never moves a checkpoint back."""
        parameters = Parameters()
        item: dict[str, Any] = {
            **self._key(shard_id),
            "sequence": {"S": _padded(sequence)},
            "finished": {"BOOL": finished},
        }
        if finished:
            item[TTL_ATTRIBUTE] = {"N": str(int(time.time()) + _FINISHED_KEPT_SECONDS)}
        stored = parameters.name("sequence")
        try:
            async with self._guard():
                await self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression=f"attribute_not_exists({parameters.name(KEY_ATTRIBUTE)}) "
                    f"OR {stored} <= {parameters.text(_padded(sequence))}",
                    **parameters.request(),
                )
        except ConditionFailed:
            log.warning("checkpoint of shard %s is past %s already: another relay runs", shard_id, sequence)


async def table_stream(
    client: DynamoDBClient, table_name: str, *, guard: Callable[[], AbstractAsyncContextManager[None]]
) -> tuple[str | None, str | None]:
    """The table's latest stream (None when it has no enabled one) and what its records carry."""
    async with guard():
        table = (await client.describe_table(TableName=table_name))["Table"]
    specification = table.get("StreamSpecification", {})
    if not specification.get("StreamEnabled") or "LatestStreamArn" not in table:
        return None, None
    return table["LatestStreamArn"], specification.get("StreamViewType")
