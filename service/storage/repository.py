"""Service requests in the VehicleServices table and its StatusIndex: every read and write the service makes.

With its helpers (`guard`, `expressions`, `idempotency`, `table`) this is the only place that knows
DynamoDB: callers give and get the service's own models and errors.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import secrets
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal

from ulid import ULID

from service.core.clock import Clock, wall_clock
from service.core.errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidCursor,
    NotFound,
    PreconditionFailed,
    RequestInProgress,
)
from service.core.models import (
    ACTIVE_STATUSES,
    HISTORY_MAX,
    ItemKey,
    ServiceRequest,
    ServiceRequestCreate,
    ServiceRequestPage,
    ServiceRequestUpdate,
    Status,
    StatusHistoryEntry,
    history_entry,
    known_status,
    timestamp,
)
from service.storage.cursors import CursorCodec
from service.storage.expressions import Parameters, as_read, projection, version_is
from service.storage.guard import ConditionFailed, deadline_guard
from service.storage.idempotency import DEFAULT_TTL_SECONDS, IdempotencyKey, IdempotencyRecords, duplicate_key
from service.storage.ratelimit import WindowLimit
from service.storage.tables import HISTORY, INDEX_KEY, STATUS_CHANGED, STATUS_INDEX, TABLE_KEY

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef

    Item = Mapping[str, AttributeValueTypeDef]

log = logging.getLogger(__name__)

# What makes two forms the same request (see Repository.create's `once_per_form`).
_FORM_FIELDS = frozenset({"license_plate", "phone_number", "service_description"})
# A create whose keys another call keeps taking over gives up after this many rounds.
_CREATE_ROUNDS = 3
# A request in these is closed: the same form sent again is a new request.
_CLOSED = frozenset({Status.COMPLETED, Status.REJECTED})

_TEXT_FIELDS = (
    "phone_number",
    "service_description",
    "service_status",
    "completion_date",
    "created_at",
    "updated_at",
)


def _text(value: AttributeValueTypeDef | None) -> str | None:
    # Items typed in the AWS console may hold a number where the lab used a string; read both.
    if value is None:
        return None
    if "S" in value:
        return value["S"]
    if "N" in value:
        return value["N"]
    return None


def _version(value: AttributeValueTypeDef | None) -> int | None:
    text = _text(value)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _status_history(value: AttributeValueTypeDef | None) -> list[StatusHistoryEntry] | None:
    # Entries that are not whole (an item edited by hand) are left out rather than failing the read.
    if value is None or "L" not in value:
        return None
    entries = []
    for element in value["L"]:
        fields = element.get("M", {})
        status, at, by = (_text(fields.get(name)) for name in ("status", "at", "by"))
        if status is not None and at is not None and by is not None:
            entries.append(StatusHistoryEntry(status=status, at=at, by=by))
    return entries


def _history_value(entry: StatusHistoryEntry) -> AttributeValueTypeDef:
    return {"M": {name: {"S": text} for name, text in entry.model_dump().items()}}


def _history_length(item: Item) -> int:
    return len(item.get(HISTORY, {}).get("L", []))


def to_model(item: Item) -> ServiceRequest:
    """The request an item holds (as stored, or as the table's stream carries it)."""
    return ServiceRequest(
        license_plate=_text(item["license_plate"]) or "",
        service_id=_text(item["service_id"]) or "",
        version=_version(item.get("version")),
        status_history=_status_history(item.get(HISTORY)),
        **{name: _text(item.get(name)) for name in _TEXT_FIELDS},
    )


# What an update assumes of the stored item, which its condition checks: `edit` changes no status;
# `change` gives a new status and appends to a history with room left; `full` gives a new status to an
# item whose history is exactly full, dropping its oldest entry; `over` gives a new status to an item
# whose history is longer than that (written elsewhere), as read; `same` gives the status it has already.
_Plan = Literal["edit", "change", "full", "over", "same"]
# The pause before an update made again after it lost a race: random up to this, doubling per lost race
# up to the cap, so that writers that keep meeting spread out (and each stays within the deadline).
_BACKOFF_FIRST = 0.005
_BACKOFF_CAP = 0.2
_jitter = random.SystemRandom()


def _key(license_plate: str, service_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"license_plate": {"S": license_plate}, "service_id": {"S": service_id}}


def _not_found(keys: Sequence[ItemKey]) -> NotFound:
    license_plate, service_id = keys[0] if keys else ("", "")
    return NotFound(f"no service request {license_plate}/{service_id}")


def _position(item: Item, names: frozenset[str]) -> dict[str, str]:
    return {name: item[name]["S"] for name in names}


def _start_key(position: dict[str, str]) -> dict[str, AttributeValueTypeDef]:
    return {name: {"S": value} for name, value in position.items()}


class Repository:
    """Service requests in one table. Every write is conditional; lists are Queries, one page at a time."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        cursors: CursorCodec,
        *,
        idempotency_table: str,
        idempotency_ttl: int = DEFAULT_TTL_SECONDS,
        duplicate_window: int = 600,
        public_create_limit: int = 60,
        public_create_window: int = 600,
        deadline: float = 10.0,
        clock: Clock = wall_clock,
    ) -> None:
        self._client = client
        self._table = table_name
        self._idempotency_table = idempotency_table
        self._cursors = cursors
        self._deadline = deadline
        self._duplicate_window = duplicate_window

        def guard() -> AbstractAsyncContextManager[None]:
            return self._guard(idempotency_table)

        self._keys = IdempotencyRecords(
            client,
            idempotency_table,
            guard=guard,
            still_open=self._still_open,
            ttl_seconds=idempotency_ttl,
            # A holder makes at most a few DynamoDB calls, each within the deadline, between claiming a key
            # and recording its outcome (claims of its other key included): past this lease it has stopped.
            lease_seconds=6 * deadline,
            wait_seconds=deadline,
            clock=clock,
        )
        self._anonymous_creates = WindowLimit(
            client,
            idempotency_table,
            "anonymous-creates",
            guard=guard,
            limit=public_create_limit,
            window_seconds=public_create_window,
            clock=clock,
        )

    def _guard(self, table: str | None = None) -> AbstractAsyncContextManager[None]:
        """Bounds the DynamoDB calls inside (on `table`, by default the service-request table) by the
        deadline and translates their errors."""
        return deadline_guard(self._deadline, table=table or self._table)

    async def ping(self) -> None:
        """Raise BackendUnavailable unless both tables answer; it names a missing one."""
        for table in (self._table, self._idempotency_table):
            async with self._guard(table):
                await self._client.describe_table(TableName=table)

    async def limit_anonymous_create(self, address: str) -> None:
        """Count an anonymous create from `address`, every instance together; raise TooManyRequests over
        PUBLIC_CREATE_LIMIT in the current window of PUBLIC_CREATE_WINDOW_SECONDS."""
        try:
            await self._anonymous_creates.admit(address)
        except BackendUnavailable as unavailable:
            self._without_limits(unavailable)

    def _without_limits(self, unavailable: BackendUnavailable) -> None:
        """Let a public form through without its limits while their table is missing (a table made by
        hand, as the lab does): refusing the form would lose the customer. Any other failure stands."""
        if unavailable.missing_table != self._idempotency_table:
            raise unavailable
        log.error(
            "table %s does not exist: a public form is taken without its limits and duplicate check; "
            "create it with `make init-table`",
            self._idempotency_table,
        )

    async def create(
        self,
        new: ServiceRequestCreate,
        *,
        by: str,
        idempotency: IdempotencyKey | None = None,
        once_per_form: bool = False,
    ) -> tuple[ServiceRequest, bool]:
        """Store a new request; never overwrites. Returns it, and whether an earlier call stored it. Its
        status history starts with its status, given `by` (a technician's `sub`, or `public`).

        Raises AlreadyExists when a given service_id is taken. With an `idempotency` key, every call with
        the key (and the same body, on the same route) is answered the request the first one stored, as it
        was stored: it is never stored again, however the calls interleave and whatever became of the item
        since. The same key with another body raises IdempotencyKeyReused. With `once_per_form`, so is every
        call with the same plate, phone number and description within the duplicate window, while the
        request it stored is still in the table and open (see `_still_open`); after that such a call stores
        a new request, and its repeats are answered that one.
        """
        service_id = new.service_id or str(ULID())
        keys = [idempotency] if idempotency is not None else []
        if once_per_form:
            form = new.model_dump_json(include=set(_FORM_FIELDS))
            keys.append(duplicate_key(form, self._duplicate_window))
        if not keys:
            return to_model(await self._put_new(new, service_id, by)), False
        body = new.model_dump_json()
        holder = secrets.token_hex(16)
        for _ in range(_CREATE_ROUNDS):
            try:
                claims = await self._keys.claim_all(keys, body, new.license_plate, service_id, holder)
            except BackendUnavailable as unavailable:
                if idempotency is not None:
                    raise  # a caller's key must be honoured, or refused
                self._without_limits(unavailable)
                return to_model(await self._put_new(new, service_id, by)), False
            answered = claims[-1].outcome
            if answered is not None:
                return to_model(answered), True
            service_id = claims[0].service_id
            if any(claim.taken_over for claim in claims):
                # The call that claimed first may have stored the request before it stopped.
                stored, replayed = await self._find_or_put(new, service_id, by)
            else:
                try:
                    stored, replayed = await self._put_new(new, service_id, by), False
                except AlreadyExists:
                    if await self._keys.release_all(claims, holder):
                        raise  # the given service_id belongs to another request
                    continue  # another call took a key over meanwhile: its outcome is the answer
            await self._keys.complete_all(claims, holder, stored)
            return to_model(stored), replayed
        raise RequestInProgress("other calls with this Idempotency-Key keep taking it over", retry_after=1)

    async def _still_open(self, stored: Item) -> bool:
        """Whether the request `stored` (as a key's outcome) is still in the table, neither Completed nor
        Service Rejected (in any spelling); one consistent read, only when a repeated form is found."""
        parameters = Parameters()
        async with self._guard():
            response = await self._client.get_item(
                TableName=self._table,
                Key={"license_plate": stored["license_plate"], "service_id": stored["service_id"]},
                ConsistentRead=True,
                ProjectionExpression=projection(parameters, {"service_status", *TABLE_KEY}),
                **parameters.request(),
            )
        item = response.get("Item")
        if item is None:
            return False
        status = _text(item.get("service_status"))
        return status is None or known_status(status) not in _CLOSED

    async def _find_or_put(self, new: ServiceRequestCreate, service_id: str, by: str) -> tuple[Item, bool]:
        """The request stored under `service_id` already, or else stored now; and whether it was there."""
        for _ in range(2):
            item = await self._read(new.license_plate, service_id)
            if item is not None:
                return item, True
            try:
                return await self._put_new(new, service_id, by), False
            except AlreadyExists:
                continue  # stored at this moment by a holder thought to have stopped: read it
        raise AlreadyExists(f"service request {new.license_plate}/{service_id} exists already")

    async def _put_new(self, new: ServiceRequestCreate, service_id: str, by: str) -> Item:
        now = timestamp()
        item: dict[str, AttributeValueTypeDef] = {
            **_key(new.license_plate, service_id),
            "phone_number": {"S": new.phone_number},
            "service_description": {"S": new.service_description},
            "service_status": {"S": new.service_status.value},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            "version": {"N": "1"},
            HISTORY: {"L": [_history_value(history_entry(new.service_status, now, by))]},
            STATUS_CHANGED: {"BOOL": True},
        }
        if new.service_status is Status.COMPLETED:
            item["completion_date"] = {"S": now}
        parameters = Parameters()
        try:
            async with self._guard():
                await self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression=f"attribute_not_exists({parameters.name('license_plate')})",
                    **parameters.request(),
                )
        except ConditionFailed:
            raise AlreadyExists(f"service request {new.license_plate}/{service_id} exists already") from None
        return item

    async def get(self, keys: Sequence[ItemKey]) -> ServiceRequest:
        """The request under the first of `keys` that holds one (see models.item_keys); raises NotFound."""
        for license_plate, service_id in keys:
            item = await self._read(license_plate, service_id)
            if item is not None:
                return to_model(item)
        raise _not_found(keys)

    async def update(
        self,
        keys: Sequence[ItemKey],
        changes: ServiceRequestUpdate,
        *,
        by: str,
        if_version: frozenset[int] | None = None,
    ) -> ServiceRequest:
        """Apply `changes` in one conditional UpdateItem to the request under the first of `keys` that
        holds one; other attributes, known or not, stay as they are. Raises NotFound, PreconditionFailed.

        A new status is appended to the status history, given `by`, in the same write (the history
        keeps its latest HISTORY_MAX entries); giving the status the request has already adds nothing.
        `completion_date` is present exactly while the status is Completed: it is stamped when the
        status becomes Completed (kept if it already was) and removed when the status moves on.
        Every write adds one to `version` (an item written elsewhere gets its first). With
        `if_version`, the write happens only while the version is one of those (0: no version yet).
        """
        for license_plate, service_id in keys:
            item = await self._update_one(license_plate, service_id, changes, by, if_version)
            if item is not None:
                return item
        raise _not_found(keys)

    async def _update_one(
        self,
        license_plate: str,
        service_id: str,
        changes: ServiceRequestUpdate,
        by: str,
        if_version: frozenset[int] | None,
    ) -> ServiceRequest | None:
        """The update under one key: the request as written, or None when there is none there.

        The write never reads first. It assumes the status changes (the usual case); when its condition
        fails, the item as it was (from DynamoDB's answer, or read) tells which assumption holds, and
        the write is made again under that one. A write that loses a race to another (its assumption
        no longer holds when it lands) is made again, after a jittered pause, until it lands or the
        deadline has passed: each loss means another write landed, so concurrent writers all get through.
        """
        plan: _Plan = "edit" if changes.service_status is None else "change"
        old: Item | None = None
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._deadline
        for attempt in itertools.count():
            parameters = Parameters()
            expression = self._update_expression(parameters, changes, by, plan, old)
            condition = " AND ".join(
                [
                    self._write_condition(parameters, if_version),
                    *self._plan_conditions(parameters, plan, old, changes.service_status),
                ]
            )
            try:
                async with self._guard():
                    response = await self._client.update_item(
                        TableName=self._table,
                        Key=_key(license_plate, service_id),
                        UpdateExpression=expression,
                        ConditionExpression=condition,
                        ReturnValues="ALL_NEW",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **parameters.request(),
                    )
                return to_model(response["Attributes"])
            except ConditionFailed as failed:
                if plan == "edit" and if_version is None:
                    return None  # the only condition was that the item exists
                old = failed.item if failed.item is not None else await self._read(license_plate, service_id)
            if old is None:
                return None
            if if_version is not None and (_version(old.get("version")) or 0) not in if_version:
                raise PreconditionFailed(
                    f"service request {license_plate}/{service_id} has changed; read it again"
                )
            plan = self._plan(changes, old)
            if attempt == 0:
                continue  # the first write assumed; this one knows the item: no race was lost yet
            pause = _jitter.uniform(0, min(_BACKOFF_CAP, _BACKOFF_FIRST * 2 ** (attempt - 1)))
            if loop.time() + pause >= give_up:
                break
            await asyncio.sleep(pause)
        raise BackendUnavailable(
            f"service request {license_plate}/{service_id} kept changing while written, "
            f"for {self._deadline:g} s"
        )

    @staticmethod
    def _plan(changes: ServiceRequestUpdate, old: Item) -> _Plan:
        """What to assume of the item as it was."""
        if changes.service_status is None:
            return "edit"
        if _text(old.get("service_status")) == changes.service_status.value:
            return "same"
        length = _history_length(old)
        return "change" if length < HISTORY_MAX else "full" if length == HISTORY_MAX else "over"

    @staticmethod
    def _plan_conditions(
        parameters: Parameters, plan: _Plan, old: Item | None, status: Status | None
    ) -> list[str]:
        """The conditions under which `plan`'s assumption holds."""
        if plan == "edit" or status is None:
            return []
        if plan == "over":
            # The history is rewritten from the item as read: only while nobody has written it since
            # (every write here changes both; comparing the lists themselves is not portable).
            assert old is not None
            return [as_read(parameters, old, "version"), as_read(parameters, old, "updated_at")]
        current, given = parameters.name("service_status"), parameters.text(status.value)
        if plan == "same":
            return [f"{current} = {given}"]
        history = parameters.name(HISTORY)
        # Whatever else other writers did, the history still has the length this write's trim needs.
        room = (
            f"size({history}) = {parameters.number(HISTORY_MAX)}"
            if plan == "full"
            else f"(attribute_not_exists({history}) OR size({history}) < {parameters.number(HISTORY_MAX)})"
        )
        return [f"({current} <> {given} OR attribute_not_exists({current}))", room]

    @staticmethod
    def _update_expression(
        parameters: Parameters, changes: ServiceRequestUpdate, by: str, plan: _Plan, old: Item | None
    ) -> str:
        """SET the changes, `updated_at`, the status-change mark and, for a new status, the history;
        ADD one to `version`; REMOVE `completion_date` when the status moves away from Completed, and
        the oldest entry of a full history."""
        now = timestamp()
        at = parameters.text(now)
        assignments = [f"{parameters.name('updated_at')} = {at}"]
        removals: list[str] = []
        for field, value in changes.changes().items():
            assignments.append(f"{parameters.name(field)} = {parameters.text(value)}")
        status = changes.service_status
        changed = plan in ("change", "full", "over")
        assignments.append(f"{parameters.name(STATUS_CHANGED)} = {parameters.value({'BOOL': changed})}")
        if status is not None:
            completion = parameters.name("completion_date")
            if status is Status.COMPLETED:
                assignments.append(f"{completion} = if_not_exists({completion}, {at})")
            else:
                removals.append(completion)
            entry = _history_value(history_entry(status, now, by))
            history = parameters.name(HISTORY) if changed else ""
            if plan == "change":
                empty = parameters.value({"L": []})
                appended = parameters.value({"L": [entry]})
                assignments.append(f"{history} = list_append(if_not_exists({history}, {empty}), {appended})")
            elif plan == "full":
                # One entry out at the front, one in past the end (SET at an index beyond a list appends,
                # and the two paths do not overlap): the same whichever DynamoDB applies first, and true
                # of whatever list of that length other writers left, so concurrent changes all land.
                assignments.append(f"{history}[{HISTORY_MAX}] = {parameters.value(entry)}")
                removals.append(f"{history}[0]")
            elif plan == "over":
                assert old is not None
                kept = old[HISTORY]["L"][-(HISTORY_MAX - 1) :]
                assignments.append(f"{history} = {parameters.value({'L': [*kept, entry]})}")
        expression = f"SET {', '.join(assignments)} ADD {parameters.name('version')} {parameters.number(1)}"
        if removals:
            expression += f" REMOVE {', '.join(removals)}"
        return expression

    async def _read(self, license_plate: str, service_id: str) -> Item | None:
        """The item under one key as it is now, or None."""
        async with self._guard():
            response = await self._client.get_item(
                TableName=self._table, Key=_key(license_plate, service_id), ConsistentRead=True
            )
        return response.get("Item")

    async def delete(self, keys: Sequence[ItemKey], *, if_version: frozenset[int] | None = None) -> None:
        """Remove the request under the first of `keys` that holds one; raises NotFound when none does,
        PreconditionFailed when it is there at another version."""
        parameters = Parameters()
        condition = self._write_condition(parameters, if_version)
        for license_plate, service_id in keys:
            try:
                async with self._guard():
                    await self._client.delete_item(
                        TableName=self._table,
                        Key=_key(license_plate, service_id),
                        ConditionExpression=condition,
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **parameters.request(),
                    )
            except ConditionFailed as failed:
                await self._raise_if_changed(license_plate, service_id, failed, if_version)
                continue
            return
        raise _not_found(keys)

    @staticmethod
    def _write_condition(parameters: Parameters, if_version: frozenset[int] | None) -> str:
        """The item exists (never an upsert), at one of `if_version` when given."""
        condition = f"attribute_exists({parameters.name('license_plate')})"
        if if_version is not None:
            condition += f" AND ({version_is(parameters, if_version)})"
        return condition

    async def _raise_if_changed(
        self, license_plate: str, service_id: str, failed: ConditionFailed, if_version: frozenset[int] | None
    ) -> None:
        """After a failed conditional write: PreconditionFailed when the item is there at another
        version; nothing when there is no item under that key."""
        if if_version is None:
            return  # the only condition was that the item exists
        # Not every DynamoDB implementation returns the old item; look, on this failure path only.
        if failed.item is not None or await self._read(license_plate, service_id) is not None:
            raise PreconditionFailed(
                f"service request {license_plate}/{service_id} has changed; read it again"
            )

    async def list_by_vehicle(
        self, plates: Sequence[str], *, limit: int, cursor: str | None = None
    ) -> ServiceRequestPage:
        """One vehicle's requests from every partition in `plates` (see models.plate_keys), in
        service_id order (creation order for generated ids)."""
        scope = "vehicle:" + "\0".join(plates)
        after = self._cursors.decode(scope, cursor, TABLE_KEY) if cursor is not None else None
        if after is not None and after["license_plate"] not in plates:
            raise InvalidCursor("the cursor does not describe a position in this list")
        items = await self._history(plates, limit + 1, after)
        return self._page(items, limit, scope, TABLE_KEY)

    async def list_by_status(
        self, status: str, *, limit: int, cursor: str | None = None
    ) -> ServiceRequestPage:
        """Requests with exactly this status, by license plate, from StatusIndex."""
        scope = f"status:{status}"
        start = self._cursors.decode(scope, cursor, INDEX_KEY) if cursor is not None else None
        items = await self._query(self._status_query(status), limit + 1, start)
        return self._page(items, limit, scope, INDEX_KEY)

    async def list_active(self, *, limit: int, cursor: str | None = None) -> ServiceRequestPage:
        """Requests in an active status, by status in workflow order, then license plate.

        One Query on StatusIndex per active status, never a Scan, each followed across DynamoDB's pages.
        """
        scope = "active"
        start = self._cursors.decode(scope, cursor, INDEX_KEY) if cursor is not None else None
        statuses = [s.value for s in ACTIVE_STATUSES]
        first = 0
        if start is not None:
            if start["service_status"] not in statuses:
                raise InvalidCursor("the cursor does not describe a position in this list")
            first = statuses.index(start["service_status"])
        items: list[Item] = []
        for status in statuses[first:]:
            items += await self._query(self._status_query(status), limit + 1 - len(items), start)
            start = None
            if len(items) > limit:
                break
        return self._page(items, limit, scope, INDEX_KEY)

    async def all_with_status(
        self, statuses: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[ServiceRequest]:
        """Every request in any of `statuses`, in that order, then by license plate: no pages, no Scan.

        The Queries (one per status) run concurrently. `fields` limits the attributes read back
        (the keys are always included).
        """
        pages = await self._concurrently(
            self._query(self._status_query(status, fields), None, None) for status in statuses
        )
        return [to_model(item) for page in pages for item in page]

    async def vehicle_history(self, plates: Sequence[str]) -> list[ServiceRequest]:
        """Every request of one vehicle, from every partition in `plates`, in service_id order."""
        return [to_model(item) for item in await self._history(plates, None, None)]

    async def _history(
        self, plates: Sequence[str], wanted: int | None, after: dict[str, str] | None
    ) -> list[Item]:
        """Up to `wanted` items (None: all) of the partitions `plates`, ordered by service_id and then by
        the partition's place in `plates`, starting after the position `after` in that order."""
        queries = []
        for place, plate in enumerate(plates):
            if after is None:
                queries.append(self._vehicle_query(plate))
            else:
                # The cursor's partition, and those before it, have returned the cursor's id already.
                done = place <= plates.index(after["license_plate"])
                queries.append(self._vehicle_query(plate, after["service_id"], inclusive=not done))
        pages = await self._concurrently(self._query(query, wanted, None) for query in queries)
        merged = heapq.merge(*pages, key=lambda item: item["service_id"]["S"])
        return list(itertools.islice(merged, wanted))

    async def _concurrently(self, calls: Iterable[Coroutine[Any, Any, list[Item]]]) -> list[list[Item]]:
        """The results of `calls`, run concurrently; the first failure cancels the others."""
        try:
            # A TaskGroup, unlike gather, cancels and awaits the other calls when one fails, so none
            # is left pending (on Lambda the loop stops between invocations).
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(call) for call in calls]
        except ExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [task.result() for task in tasks]

    def _vehicle_query(
        self, license_plate: str, from_id: str | None = None, *, inclusive: bool = False
    ) -> QueryInputTypeDef:
        parameters = Parameters()
        condition = f"{parameters.name('license_plate')} = {parameters.text(license_plate)}"
        if from_id is not None:
            operator = ">=" if inclusive else ">"
            condition += f" AND {parameters.name('service_id')} {operator} {parameters.text(from_id)}"
        query: QueryInputTypeDef = {"TableName": self._table, "KeyConditionExpression": condition}
        query.update(parameters.request())  # type: ignore[typeddict-item]
        return query

    def _status_query(self, status: str, fields: Sequence[str] | None = None) -> QueryInputTypeDef:
        parameters = Parameters()
        query: QueryInputTypeDef = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": f"{parameters.name('service_status')} = {parameters.text(status)}",
        }
        if fields is not None:
            query["ProjectionExpression"] = projection(parameters, {*fields, *INDEX_KEY})
        query.update(parameters.request())  # type: ignore[typeddict-item]
        return query

    async def _query(
        self, query: QueryInputTypeDef, wanted: int | None, start: dict[str, str] | None
    ) -> list[Item]:
        """Up to `wanted` items (None: all) of one Query, following LastEvaluatedKey across pages."""
        items: list[Item] = []
        start_key: Mapping[str, Any] | None = _start_key(start) if start else None
        while wanted is None or len(items) < wanted:
            request: dict[str, Any] = dict(query)
            if wanted is not None:
                request["Limit"] = wanted - len(items)
            if start_key is not None:
                request["ExclusiveStartKey"] = start_key
            async with self._guard():
                response = await self._client.query(**request)
            items += response.get("Items", [])
            start_key = response.get("LastEvaluatedKey")
            if start_key is None:
                break
        return items

    def _page(self, items: list[Item], limit: int, scope: str, keys: frozenset[str]) -> ServiceRequestPage:
        # The lists ask for one item more than the page holds: a next page exists exactly when it came.
        next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            next_cursor = self._cursors.encode(scope, _position(items[-1], keys))
        return ServiceRequestPage(items=[to_model(item) for item in items], next_cursor=next_cursor)
