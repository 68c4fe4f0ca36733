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
from typing import TYPE_CHECKING

from service.core.clock import Clock, wall_clock
from service.core.errors import IdempotencyKeyReused, RequestInProgress
from service.storage.expressions import Parameters, as_read
from service.storage.guard import ConditionFailed

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, KeySchemaElementTypeDef

    Item = Mapping[str, AttributeValueTypeDef]

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


def _still_held(parameters: Parameters, holder: str) -> str:
    """A condition: `holder` still holds the key, and no outcome is recorded for it."""
    return (
        f"{parameters.name(_HOLDER)} = {parameters.text(holder)} "
        f"AND attribute_not_exists({parameters.name(_OUTCOME)})"
    )


def _number(record: Item, attribute: str) -> float:
    return float(record.get(attribute, {}).get("N", "0"))


class IdempotencyRecords:
    """The records of one table. Every call runs inside `guard` (a deadline and error translation).

    A key is claimed with a conditional PutItem naming the calling `holder`; only the holder stores the
    request, then records it as the key's outcome, which every later call with the key is answered. A call
    that finds the key held waits for the outcome; when the holder has not recorded one within `lease_seconds`
    of claiming, it is taken to have stopped and the key is taken over by a conditional UpdateItem. A key
    `while_open` whose outcome `still_open` finds gone or closed is claimed again, by a conditional PutItem
    on the record as read, so that of the calls that find it so, one stores the new request.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        guard: Callable[[], AbstractAsyncContextManager[None]],
        still_open: Callable[[Item], Awaitable[bool]],
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        lease_seconds: float,
        wait_seconds: float,
        clock: Clock = wall_clock,
    ) -> None:
        self._client = client
        self._table = table_name
        self._guard = guard
        self._still_open = still_open
        self._ttl_seconds = ttl_seconds
        self._lease_seconds = lease_seconds
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
        adopt: bool = True,
    ) -> Claim:
        """The key for `holder`, to store the request (`license_plate`, `service_id`); or, when the key stands
        for a request stored already (and, for a key `while_open`, still stored and open), that request as
        answered then.

        A key held by another call is waited for, up to `wait_seconds` (then RequestInProgress); a key whose
        holder stopped is taken over, keeping the id recorded for it when `adopt`, else recording
        `service_id`. Raises IdempotencyKeyReused when the key stands for a request with another fingerprint.
        """
        record = await self._put_claim(key, fingerprint, license_plate, service_id, holder)
        waiting_since = time.monotonic()
        poll = _FIRST_POLL_SECONDS
        while record is not None:
            if record.get(_FINGERPRINT, {}).get("S") != fingerprint:
                raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
            recorded_id = record[_SERVICE_ID]["S"]
            if _OUTCOME in record:
                outcome = record[_OUTCOME]["M"]
                if not key.while_open or await self._still_open(outcome):
                    return Claim(key, recorded_id, outcome)
                # Its request is gone or closed: the key is this call's, unless another call took it since.
                record = await self._put_claim(
                    key, fingerprint, license_plate, service_id, holder, replacing=record
                )
                continue
            now = self._clock()
            lease_ends = _number(record, _CLAIMED_AT) + self._lease_seconds
            if now >= lease_ends:
                chosen = recorded_id if adopt else service_id
                if await self._take_over(key, record, chosen, holder, now):
                    return Claim(key, chosen, None, taken_over=True)
            else:
                if time.monotonic() - waiting_since >= self._wait_seconds:
                    raise RequestInProgress(
                        "another call with this Idempotency-Key or form is still storing its request",
                        retry_after=max(1, math.ceil(lease_ends - now)),
                    )
                await asyncio.sleep(poll)
                poll = min(2 * poll, _MOST_POLL_SECONDS)
            record = await self._read(key)
            if record is None or _number(record, TTL_ATTRIBUTE) < self._clock():
                record = await self._put_claim(key, fingerprint, license_plate, service_id, holder)
        return Claim(key, service_id, None)

    async def claim_all(
        self, keys: Sequence[IdempotencyKey], body: str, license_plate: str, service_id: str, holder: str
    ) -> list[Claim]:
        """Claim `keys` in order for `holder` (see `claim`; the first key's id, when it is taken over, is
        the request's), up to the first that stands for a stored request: then the last claim, and the keys
        claimed before it are completed with its outcome. A failure frees the keys claimed afresh."""
        claims: list[Claim] = []
        try:
            for key in keys:
                claim = await self.claim(
                    key, key.fingerprint(body), license_plate, service_id, holder, adopt=not claims
                )
                if claim.outcome is not None:
                    await self.complete_all(claims, holder, claim.outcome)
                    return [*claims, claim]
                claims.append(claim)
                service_id = claim.service_id
        except Exception:
            # Nothing is stored under a key claimed afresh yet: free them, so that a retry need not wait.
            await self.release_all([claim for claim in claims if not claim.taken_over], holder)
            raise
        return claims

    async def complete_all(self, claims: Sequence[Claim], holder: str, outcome: Item) -> None:
        for claim in claims:
            await self.complete(claim, holder, outcome)

    async def release_all(self, claims: Sequence[Claim], holder: str) -> bool:
        """Free every key of `claims`; False when any was no longer `holder`'s (see `release`)."""
        released = [await self.release(claim, holder) for claim in claims]
        return all(released)

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
                    ConditionExpression=_still_held(parameters, holder),
                    **parameters.request(),
                )
        except ConditionFailed:
            # Taken over meanwhile: the call that took the key over records the same request, found stored.
            pass

    async def release(self, claim: Claim, holder: str) -> bool:
        """Forget a key `holder` holds and stored nothing under; False when the key is no longer its own
        (another call took it over, or recorded an outcome), and is then left as it is."""
        parameters = Parameters()
        try:
            async with self._guard():
                await self._client.delete_item(
                    TableName=self._table,
                    Key=self._key(claim.key),
                    ConditionExpression=_still_held(parameters, holder),
                    **parameters.request(),
                )
        except ConditionFailed:
            return False
        return True

    async def _put_claim(
        self,
        key: IdempotencyKey,
        fingerprint: str,
        license_plate: str,
        service_id: str,
        holder: str,
        *,
        replacing: Item | None = None,
    ) -> Item | None:
        """Record the key for `holder` unless a live record stands for it (with `replacing`: unless its
        record changed since it was read so); None when recorded, else that record."""
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
            try:
                async with self._guard():
                    await self._client.put_item(
                        TableName=self._table,
                        Item={
                            **self._key(key),
                            _FINGERPRINT: {"S": fingerprint},
                            "license_plate": {"S": license_plate},
                            _SERVICE_ID: {"S": service_id},
                            _HOLDER: {"S": holder},
                            _CLAIMED_AT: {"N": f"{now:.3f}"},
                            TTL_ATTRIBUTE: {"N": str(math.ceil(now + (key.lifetime or self._ttl_seconds)))},
                        },
                        ConditionExpression=condition,
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **parameters.request(),
                    )
                return None
            except ConditionFailed as failed:
                record = failed.item or await self._read(key)
            if record is not None:
                return record
            # Deleted between the write and the read (released, or swept by TTL): claim it afresh.
            replacing = None

    async def _take_over(
        self, key: IdempotencyKey, record: Item, service_id: str, holder: str, now: float
    ) -> bool:
        """Hold a key whose holder stopped, unless another call changed its record since it was read."""
        parameters = Parameters()
        condition = " AND ".join(
            [
                f"attribute_exists({parameters.name(KEY_ATTRIBUTE)})",
                as_read(parameters, record, _HOLDER),
                as_read(parameters, record, _CLAIMED_AT),
                f"attribute_not_exists({parameters.name(_OUTCOME)})",
            ]
        )
        try:
            async with self._guard():
                await self._client.update_item(
                    TableName=self._table,
                    Key=self._key(key),
                    UpdateExpression=(
                        f"SET {parameters.name(_HOLDER)} = {parameters.text(holder)}, "
                        f"{parameters.name(_CLAIMED_AT)} = {parameters.value({'N': f'{now:.3f}'})}, "
                        f"{parameters.name(_SERVICE_ID)} = {parameters.text(service_id)}"
                    ),
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
