"""Idempotency-Key records: which request a key stands for and, once it is stored, what was answered; kept in
a table of their own that DynamoDB empties by time to live. VehicleServices holds service requests only (the
lab's own Lambda scans it)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from service.core.clock import Clock, wall_clock
from service.core.errors import IdempotencyKeyReused, RequestInProgress
from service.storage.expressions import Parameters, as_read
from service.storage.guard import ConditionFailed

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, KeySchemaElementTypeDef

    Item = Mapping[str, AttributeValueTypeDef]

# What became of the request a key stands for: in the table and open, in the table and closed, or not there.
RequestState = Literal["open", "closed", "absent"]

KEY_ATTRIBUTE = "idempotency_key"
# DynamoDB's time to live deletes a record some time after this moment (epoch seconds) has passed.
TTL_ATTRIBUTE = "expires_at"
KEY_SCHEMA: list[KeySchemaElementTypeDef] = [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
DEFAULT_TTL_SECONDS = 24 * 3600

# A record's other attributes: what the key was first sent with, the request it stands for, the call that
# holds it while that request is being stored, and the request as stored once it is (a map of its attributes).
_FINGERPRINT = "fingerprint"
_SERVICE_ID = "service_id"
_HOLDER = "claimed_by"
_CLAIMED_AT = "claimed_at"
_OUTCOME = "outcome"
# Set when the request a key stands for was deleted (see IdempotencyRecords.forget).
_DELETED = "request_deleted"

# A call that finds its key held by another reads the record again after this long, doubling up to the most.
_FIRST_POLL_SECONDS = 0.02
_MOST_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class IdempotencyKey:
    """A key that makes calls one request: a caller's Idempotency-Key (see `caller_key`), or a form's own key
    (see `duplicate_key`)."""

    key: str
    route: str
    # How long the key is remembered, in seconds; None: as long as IDEMPOTENCY_TTL_SECONDS says.
    lifetime: int | None = None
    # The key stands for its request only while that request is stored and open; once it is deleted,
    # Completed or Service Rejected, the next call with the key is a new request.
    while_open: bool = False

    def fingerprint(self, body: str) -> str:
        """What identifies the request the key was first sent with: the route and the validated body."""
        return hashlib.sha256(f"{self.route}\0{body}".encode()).hexdigest()


def caller_key(value: str, route: str, caller: str) -> IdempotencyKey:
    """The Idempotency-Key `value` as `caller` sent it to `route`: the same value on another route or from
    another caller is another key, so no caller's key can meet, block or reveal another's request.

    Its record is named `key <hash>`: the caller (an address, a technician's id) is not kept in the table,
    and the space, which no header holds (visible ASCII only), keeps the name apart from the bare keys that
    earlier versions named their records by, whoever sent them; those are never read again, and expire.
    """
    scope = json.dumps([route, caller, value])
    return IdempotencyKey(f"key {hashlib.sha256(scope.encode()).hexdigest()}", route)


def duplicate_key(form: str, lifetime: int) -> IdempotencyKey:
    """The key that makes the same `form`, sent again within `lifetime` seconds while its request is open,
    one request. Its name starts with another word than a caller's key's, so the two never meet."""
    return IdempotencyKey(
        f"form {hashlib.sha256(form.encode()).hexdigest()}", "form", lifetime, while_open=True
    )


@dataclass(frozen=True)
class Claim:
    """What a key stands for, as one call found it."""

    key: IdempotencyKey
    service_id: str
    # The request as stored and answered before; None: this call holds the key and stores the request.
    outcome: Item | None
    # Held after the call that claimed it first stopped without recording an outcome, so the request may
    # have been stored already.
    taken_over: bool = False
    # Held with its outcome recorded in the claim itself (see IdempotencyRecords.claim's `stores`): nothing is
    # left to complete once the request is stored.
    prerecorded: bool = False


@dataclass(frozen=True)
class _Wanted:
    """What one call claims a key for."""

    key: IdempotencyKey
    fingerprint: str
    license_plate: str
    service_id: str
    holder: str
    stores: Item | None


def _still_held(parameters: Parameters, claim: Claim, holder: str) -> str:
    """A condition: `holder` still holds the key as claimed: with no outcome recorded for it, or with the one
    recorded in the claim."""
    held = f"{parameters.name(_HOLDER)} = {parameters.text(holder)}"
    if claim.prerecorded:
        return f"{held} AND {parameters.name(_SERVICE_ID)} = {parameters.text(claim.service_id)}"
    return f"{held} AND attribute_not_exists({parameters.name(_OUTCOME)})"


def _number(record: Item, attribute: str) -> float:
    return float(record.get(attribute, {}).get("N", "0"))


class IdempotencyRecords:
    """The records of one table. Every call runs inside `guard` (a deadline and error translation).

    A key is claimed with a conditional PutItem naming the calling `holder`; only the holder stores the
    request, then records it as the key's outcome, which every later call with the key is answered. A call
    that finds the key held waits for the outcome; when the holder has not recorded one within `lease_seconds`
    of claiming, it is taken to have stopped and the key is taken over by a conditional UpdateItem. A key
    `while_open` whose request `request_state` finds gone or closed is claimed again, by a conditional PutItem
    on the record as read, so that of the calls that find it so, one stores the new request.

    A claim may record its outcome itself (`stores`: the request as it is about to be stored), which saves
    the write that would complete it. Its request is then missing from the table for the moment its holder
    takes to store it: a call that finds it missing waits while the holder may still be storing it, up to
    `store_seconds` after the claim, unless the request is known to be deleted (see `forget`).
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        guard: Callable[[], AbstractAsyncContextManager[None]],
        request_state: Callable[[Item], Awaitable[RequestState]],
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        lease_seconds: float,
        store_seconds: float,
        wait_seconds: float,
        clock: Clock = wall_clock,
    ) -> None:
        self._client = client
        self._table = table_name
        self._guard = guard
        self._request_state = request_state
        self._ttl_seconds = ttl_seconds
        self._lease_seconds = lease_seconds
        self._store_seconds = store_seconds
        self._wait_seconds = wait_seconds
        self._clock = clock

    async def claim(
        self,
        key: IdempotencyKey,
        fingerprint: str,
        license_plate: str,
        service_id: str,
        holder: str,
        *,
        stores: Item | None = None,
        adopt: bool = True,
    ) -> Claim:
        """The key for `holder`, to store the request (`license_plate`, `service_id`; with `stores`, that
        request's item, recorded as the key's outcome in the claim); or, when the key stands for a request
        stored already (and, for a key `while_open`, still stored and open), that request as answered then.

        A key held by another call is waited for, up to `wait_seconds` (then RequestInProgress); a key whose
        holder stopped is taken over, keeping the id recorded for it when `adopt`, else recording
        `service_id`. Raises IdempotencyKeyReused when the key stands for a request with another fingerprint.
        """
        wanted = _Wanted(key, fingerprint, license_plate, service_id, holder, stores)
        record = await self._put_claim(wanted)
        waiting_since = time.monotonic()
        poll = _FIRST_POLL_SECONDS
        while record is not None:
            if record.get(_FINGERPRINT, {}).get("S") != fingerprint:
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
            recorded_id = record[_SERVICE_ID]["S"]
            now = self._clock()
            if _OUTCOME in record:
                outcome = record[_OUTCOME]["M"]
                if not key.while_open:
                    return Claim(key, recorded_id, outcome)
                state = await self._request_state(outcome)
                if state == "open":
                    return Claim(key, recorded_id, outcome)
                stored_by = _number(record, _CLAIMED_AT) + self._store_seconds
                if state == "closed" or _DELETED in record or now >= stored_by:
                    # Its request is gone or closed: the key is this call's, unless another call took it.
                    record = await self._put_claim(wanted, replacing=record)
                    continue
                waiting_until = stored_by  # its holder may still be storing it
            else:
                waiting_until = _number(record, _CLAIMED_AT) + self._lease_seconds
                if now >= waiting_until:
                    chosen = recorded_id if adopt else service_id
                    if await self._take_over(key, record, chosen, holder, now, stores=stores):
                        return Claim(key, chosen, None, taken_over=True, prerecorded=stores is not None)
                    record = await self._read_again(wanted)
                    continue
            if time.monotonic() - waiting_since >= self._wait_seconds:
                raise RequestInProgress(
                    "another call with this Idempotency-Key or form is still storing its request",
                    retry_after=max(1, math.ceil(waiting_until - now)),
                )
            await asyncio.sleep(poll)
            poll = min(2 * poll, _MOST_POLL_SECONDS)
            record = await self._read_again(wanted)
        return Claim(key, service_id, None, prerecorded=stores is not None)

    async def _read_again(self, wanted: _Wanted) -> Item | None:
        """The key's record as it is now; None when this call claimed the key because it had none."""
        record = await self._read(wanted.key)
        if record is None or _number(record, TTL_ATTRIBUTE) < self._clock():
            return await self._put_claim(wanted)
        return record

    async def complete(self, claim: Claim, holder: str, outcome: Item) -> None:
        """Record `outcome` (the request as stored) for a key `holder` holds, unless another call that took
        the key over recorded it first."""
        parameters = Parameters()
        try:
            async with self._guard():
                await self._client.update_item(
                    TableName=self._table,
                    Key=self._key(claim.key),
                    UpdateExpression=(
                        f"SET {parameters.name(_OUTCOME)} = {parameters.value({'M': dict(outcome)})}, "
                        f"{parameters.name(_SERVICE_ID)} = {parameters.value(outcome['service_id'])}"
                    ),
                    ConditionExpression=_still_held(parameters, claim, holder),
                    **parameters.request(),
                )
        except ConditionFailed:
            # Taken over meanwhile: the call that took the key over records the same request, found stored.
            pass

    async def release(self, claims: Sequence[Claim], holder: str) -> bool:
        """Forget the keys `holder` holds and stored nothing under, at once; False when any was no longer its
        own (another call took it over, or recorded an outcome), which is then left as it is."""
        released = await asyncio.gather(*(self._release(claim, holder) for claim in claims))
        return all(released)

    async def _release(self, claim: Claim, holder: str) -> bool:
        parameters = Parameters()
        try:
            async with self._guard():
                await self._client.delete_item(
                    TableName=self._table,
                    Key=self._key(claim.key),
                    ConditionExpression=_still_held(parameters, claim, holder),
                    **parameters.request(),
                )
        except ConditionFailed:
            return False
        return True

    async def forget(self, key: IdempotencyKey, service_id: str) -> None:
        """Mark the record of `key`, while it stands for the request `service_id`, as standing for a deleted
        request: the next call with the key claims it at once, without waiting for a holder that may still
        be storing that request (see `claim`'s `stores`). Nothing happens when it stands for another."""
        parameters = Parameters()
        try:
            async with self._guard():
                await self._client.update_item(
                    TableName=self._table,
                    Key=self._key(key),
                    UpdateExpression=f"SET {parameters.name(_DELETED)} = {parameters.value({'BOOL': True})}",
                    ConditionExpression=f"{parameters.name(_SERVICE_ID)} = {parameters.text(service_id)}",
                    **parameters.request(),
                )
        except ConditionFailed:
            pass

    async def _put_claim(self, wanted: _Wanted, *, replacing: Item | None = None) -> Item | None:
        """Record the key for the holder `wanted` names (with the outcome it `stores`, if any) unless a live
        record stands for it (with `replacing`: unless its record changed since it was read so); None when
        recorded, else that record."""
        key = wanted.key
        while True:
            now = self._clock()
            parameters = Parameters()
            if replacing is None:
                # An expired record may linger until DynamoDB's TTL sweep removes it.
                condition = (
                    f"attribute_not_exists({parameters.name(KEY_ATTRIBUTE)}) "
                    f"OR {parameters.name(TTL_ATTRIBUTE)} < {parameters.value({'N': f'{now:.3f}'})}"
                )
            else:
                # Any write since (a claim, a take-over) changed the holder or the claim's time.
                condition = " AND ".join(
                    [
                        f"attribute_exists({parameters.name(_OUTCOME)})",
                        *(
                            as_read(parameters, replacing, name)
                            for name in (_SERVICE_ID, _HOLDER, _CLAIMED_AT)
                        ),
                    ]
                )
            record: dict[str, AttributeValueTypeDef] = {
                **self._key(key),
                _FINGERPRINT: {"S": wanted.fingerprint},
                "license_plate": {"S": wanted.license_plate},
                _SERVICE_ID: {"S": wanted.service_id},
                _HOLDER: {"S": wanted.holder},
                _CLAIMED_AT: {"N": f"{now:.3f}"},
                TTL_ATTRIBUTE: {"N": str(math.ceil(now + (key.lifetime or self._ttl_seconds)))},
            }
            if wanted.stores is not None:
                record[_OUTCOME] = {"M": dict(wanted.stores)}
            try:
                async with self._guard():
                    await self._client.put_item(
                        TableName=self._table,
                        Item=record,
                        ConditionExpression=condition,
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **parameters.request(),
                    )
                return None
            except ConditionFailed as failed:
                found = failed.item or await self._read(key)
            if found is not None:
                return found
            # Deleted between the write and the read (released, or swept by TTL): claim it afresh.
            replacing = None

    async def _take_over(
        self,
        key: IdempotencyKey,
        record: Item,
        service_id: str,
        holder: str,
        now: float,
        *,
        stores: Item | None,
    ) -> bool:
        """Hold a key whose holder stopped (recording `stores` as its outcome, when given), unless another
        call changed its record since it was read."""
        parameters = Parameters()
        condition = " AND ".join(
            [
                f"attribute_exists({parameters.name(KEY_ATTRIBUTE)})",
                as_read(parameters, record, _HOLDER),
                as_read(parameters, record, _CLAIMED_AT),
                f"attribute_not_exists({parameters.name(_OUTCOME)})",
            ]
        )
        update = (
            f"SET {parameters.name(_HOLDER)} = {parameters.text(holder)}, "
            f"{parameters.name(_CLAIMED_AT)} = {parameters.value({'N': f'{now:.3f}'})}, "
            f"{parameters.name(_SERVICE_ID)} = {parameters.text(service_id)}"
        )
        if stores is not None:
            update += f", {parameters.name(_OUTCOME)} = {parameters.value({'M': dict(stores)})}"
        try:
            async with self._guard():
                await self._client.update_item(
                    TableName=self._table,
                    Key=self._key(key),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    **parameters.request(),
                )
        except ConditionFailed:
            return False
        return True

    async def _read(self, key: IdempotencyKey) -> Item | None:
        async with self._guard():
            response = await self._client.get_item(
                TableName=self._table, Key=self._key(key), ConsistentRead=True
            )
        return response.get("Item")

    @staticmethod
    def _key(key: IdempotencyKey) -> dict[str, AttributeValueTypeDef]:
        return {KEY_ATTRIBUTE: {"S": key.key}}
