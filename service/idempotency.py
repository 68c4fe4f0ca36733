"""Idempotency-Key records: which request a key stands for, kept in a table of their own that DynamoDB
empties by time to live. VehicleServices holds service requests only (the lab's own Lambda scans it)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.errors import IdempotencyKeyReused
from service.expressions import Parameters
from service.guard import ConditionFailed

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import KeySchemaElementTypeDef

KEY_ATTRIBUTE = "idempotency_key"
# DynamoDB's time to live deletes a record some time after this moment (epoch seconds) has passed.
TTL_ATTRIBUTE = "expires_at"
KEY_SCHEMA: list[KeySchemaElementTypeDef] = [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
DEFAULT_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class IdempotencyKey:
    """A caller's Idempotency-Key, and the route it was sent to: the same key on another route is
    another request."""

    key: str
    route: str

    def fingerprint(self, body: str) -> str:
        """What identifies the request the key was first sent with: the route and the validated body."""
        return hashlib.sha256(f"{self.route}\0{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """The request a key stands for: its id, and whether this call is the key's first use."""

    service_id: str
    first_use: bool


class IdempotencyRecords:
    """The records of one table. Every call runs inside `guard` (a deadline and error translation)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        guard: Callable[[], AbstractAsyncContextManager[None]],
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self._client = client
        self._table = table_name
        self._guard = guard
        self._ttl_seconds = ttl_seconds

    async def claim(
        self, key: IdempotencyKey, fingerprint: str, license_plate: str, service_id: str
    ) -> Claim:
        """Record `key` for the request (`license_plate`, `service_id`) unless it stands for one already.
        Raises IdempotencyKeyReused when it stands for a request with another fingerprint."""
        now = int(time.time())
        parameters = Parameters()
        try:
            async with self._guard():
                await self._client.put_item(
                    TableName=self._table,
                    Item={
                        KEY_ATTRIBUTE: {"S": key.key},
                        "fingerprint": {"S": fingerprint},
                        "license_plate": {"S": license_plate},
                        "service_id": {"S": service_id},
                        TTL_ATTRIBUTE: {"N": str(now + self._ttl_seconds)},
                    },
                    # An expired record may linger until DynamoDB's TTL sweep removes it.
                    ConditionExpression=(
                        f"attribute_not_exists({parameters.name(KEY_ATTRIBUTE)}) "
                        f"OR {parameters.name(TTL_ATTRIBUTE)} < {parameters.number(now)}"
                    ),
                    **parameters.request(),
                )
            return Claim(service_id, first_use=True)
        except ConditionFailed:
            pass
        async with self._guard():
            record = await self._client.get_item(
                TableName=self._table, Key={KEY_ATTRIBUTE: {"S": key.key}}, ConsistentRead=True
            )
        item = record.get("Item", {})
        if item.get("fingerprint", {}).get("S") != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
        return Claim(item["service_id"]["S"], first_use=False)

    async def forget(self, key: IdempotencyKey) -> None:
        async with self._guard():
            await self._client.delete_item(TableName=self._table, Key={KEY_ATTRIBUTE: {"S": key.key}})
