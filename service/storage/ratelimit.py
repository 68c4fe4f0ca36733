"""Per-address request limits that every instance shares: a fixed-window counter per address in the
Idempotency-Key table, one conditional UpdateItem per counted request, expired by DynamoDB's time to live."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from service.core.clock import Clock, wall_clock
from service.core.errors import TooManyRequests
from service.storage.expressions import Parameters
from service.storage.guard import ConditionFailed
from service.storage.idempotency import KEY_ATTRIBUTE, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

_HITS = "hits"


class WindowLimit:
    """At most `limit` requests named `name` per address in each window of `window_seconds` (windows start
    at multiples of it since the epoch, the same on every instance)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        name: str,
        *,
        guard: Callable[[], AbstractAsyncContextManager[None]],
        limit: int,
        window_seconds: int,
        clock: Clock = wall_clock,
    ) -> None:
        self._client = client
        self._table = table_name
        self._name = name
        self._guard = guard
        self._limit = limit
        self._window_seconds = window_seconds
        self._clock = clock

    async def admit(self, address: str) -> None:
        """Count one request from `address`; raise TooManyRequests, counting nothing, over the limit."""
        now = self._clock()
        window = math.floor(now / self._window_seconds)
        ends = (window + 1) * self._window_seconds
        parameters = Parameters()
        hits = parameters.name(_HITS)
        try:
            async with self._guard():
                await self._client.update_item(
                    TableName=self._table,
                    # A space, which no caller's Idempotency-Key holds, keeps counters apart from keys.
                    Key={KEY_ATTRIBUTE: {"S": f"{self._name} {address} {window}"}},
                    UpdateExpression=(
                        f"ADD {hits} {parameters.number(1)} "
                        f"SET {parameters.name(TTL_ATTRIBUTE)} = {parameters.number(ends)}"
                    ),
                    ConditionExpression=(
                        f"attribute_not_exists({hits}) OR {hits} < {parameters.number(self._limit)}"
                    ),
                    **parameters.request(),
                )
        except ConditionFailed:
            raise TooManyRequests(
                f"more than {self._limit} requests from this address in {self._window_seconds} s",
                retry_after=max(1, math.ceil(ends - now)),
            ) from None
