"""Service requests in the VehicleServices table and its StatusIndex: their reads and writes, every write
conditional, lists Queries a page at a time. Callers give and get service.core's models and errors."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ulid import ULID

from service.core.errors import (
    AlreadyExists,
    BackendUnavailable,
    InvalidCursor,
    NotFound,
    PreconditionFailed,
)
from service.core.models import (
    ACTIVE_STATUSES,
    ItemKey,
    ServiceRequest,
    ServiceRequestCreate,
    ServiceRequestPage,
    ServiceRequestUpdate,
    Status,
    known_status,
)
from service.storage.cursors import CursorCodec
from service.storage.expressions import Parameters, projection, version_is
from service.storage.guard import ConditionFailed, deadline_guard
from service.storage.items import (
    Item,
    item_key,
    new_item,
    text,
    to_model,
    version,
)
from service.storage.queries import exclusive_start, position, status_query, vehicle_query
from service.storage.tables import INDEX_KEY, TABLE_KEY
from service.storage.updates import Plan, plan_conditions, plan_for, update_expression

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import QueryInputTypeDef

    from service.storage.idempotency import RequestState


log = logging.getLogger(__name__)

# A request in these is closed: the same form sent again is a new request.
_CLOSED = frozenset({Status.COMPLETED, Status.REJECTED})

# The pause before an update made again after it lost a race: random up to this, doubling per lost race
# up to the cap, so that writers that keep meeting spread out (and each stays within the deadline).
_BACKOFF_FIRST = 0.005
_BACKOFF_CAP = 0.2
_jitter = random.SystemRandom()


def _not_found(keys: Sequence[ItemKey]) -> NotFound:
    license_plate, service_id = keys[0] if keys else ("", "")
    return NotFound(f"no service request {license_plate}/{service_id}")


class Repository:
    """Service requests in one table. Every write is conditional; lists are Queries, one page at a time."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        cursors: CursorCodec,
        *,
        idempotency_table: str,
        deadline: float = 10.0,
    ) -> None:
        self._client = client
        self._table = table_name
        self._idempotency_table = idempotency_table
        self._cursors = cursors
        self._deadline = deadline

    def _guard(self, table: str | None = None) -> AbstractAsyncContextManager[None]:
        """Bounds the DynamoDB calls inside (on `table`, by default the service-request table) by the
        deadline and translates their errors."""
        return deadline_guard(self._deadline, table=table or self._table)

    async def ping(self) -> None:
        """Raise BackendUnavailable unless both tables answer; it names a missing one."""
        for table in (self._table, self._idempotency_table):
            async with self._guard(table):
                await self._client.describe_table(TableName=table)

    async def request_state(self, stored: Item) -> RequestState:
        """What became of the request `stored` (a key's outcome): still in the table and open, or closed
        (Completed or Service Rejected, in any spelling), or not there; one consistent read, only when a
        repeated form is found."""
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
            return "absent"
        status = text(item.get("service_status"))
        return "closed" if status is not None and known_status(status) in _CLOSED else "open"

    async def create(self, new: ServiceRequestCreate, *, by: str) -> ServiceRequest:
        """Store a new request (under its service_id, or a new one); never overwrites: raises
        AlreadyExists when the service_id is taken. To store it once per Idempotency-Key or form, see
        service.storage.submissions."""
        return to_model(await self.put_new(new, new.service_id or str(ULID()), by))

    async def put_new(self, new: ServiceRequestCreate, service_id: str, by: str) -> Item:
        """Store a new request under `service_id`, its status history started by `by`; raises AlreadyExists
        when the key is taken. Returns the item stored."""
        return await self.insert(new_item(new, service_id, by))

    async def insert(self, item: Item) -> Item:
        """Store the new request `item` (see items.new_item); raises AlreadyExists when its key is taken."""
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
            key = f"{item['license_plate']['S']}/{item['service_id']['S']}"
            raise AlreadyExists(f"service request {key} exists already") from None
        return item

    async def get(self, keys: Sequence[ItemKey]) -> ServiceRequest:
        """The request under the first of `keys` that holds one (see models.item_keys); raises NotFound."""
        for license_plate, service_id in keys:
            item = await self.read(license_plate, service_id)
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
        plan: Plan = "edit" if changes.service_status is None else "change"
        old: Item | None = None
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._deadline
        for attempt in itertools.count():
            parameters = Parameters()
            expression = update_expression(parameters, changes, by, plan, old)
            condition = " AND ".join(
                [
                    self._write_condition(parameters, if_version),
                    *plan_conditions(parameters, plan, old, changes.service_status),
                ]
            )
            try:
                async with self._guard():
                    response = await self._client.update_item(
                        TableName=self._table,
                        Key=item_key(license_plate, service_id),
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
                old = failed.item if failed.item is not None else await self.read(license_plate, service_id)
            if old is None:
                return None
            if if_version is not None and (version(old.get("version")) or 0) not in if_version:
                raise PreconditionFailed(
                    f"service request {license_plate}/{service_id} has changed; read it again"
                )
            plan = plan_for(changes, old)
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

    async def read(self, license_plate: str, service_id: str) -> Item | None:
        """The item under one key as it is now (one consistent read), or None."""
        async with self._guard():
            response = await self._client.get_item(
                TableName=self._table, Key=item_key(license_plate, service_id), ConsistentRead=True
            )
        return response.get("Item")

    async def delete(self, keys: Sequence[ItemKey], *, if_version: frozenset[int] | None = None) -> Item:
        """Remove the request under the first of `keys` that holds one, and return it as it was; raises
        NotFound when none does, PreconditionFailed when it is there at another version."""
        parameters = Parameters()
        condition = self._write_condition(parameters, if_version)
        for license_plate, service_id in keys:
            try:
                async with self._guard():
                    deleted = await self._client.delete_item(
                        TableName=self._table,
                        Key=item_key(license_plate, service_id),
                        ConditionExpression=condition,
                        ReturnValues="ALL_OLD",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **parameters.request(),
                    )
            except ConditionFailed as failed:
                await self._raise_if_changed(license_plate, service_id, failed, if_version)
                continue
            return deleted["Attributes"]
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
        if failed.item is not None or await self.read(license_plate, service_id) is not None:
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
        items = await self._query(status_query(self._table, status), limit + 1, start)
        return self._page(items, limit, scope, INDEX_KEY)

    async def list_active(self, *, limit: int, cursor: str | None = None) -> ServiceRequestPage:
        """Requests in an active status, by status in workflow order, then license plate.

        One Query on StatusIndex per active status from the cursor's on, never a Scan, all at once (one
        round trip), each followed across DynamoDB's pages until it alone could fill the page: a page
        reads at most one page's worth more per status than it shows.
        """
        scope = "active"
        start = self._cursors.decode(scope, cursor, INDEX_KEY) if cursor is not None else None
        statuses = [s.value for s in ACTIVE_STATUSES]
        first = 0
        if start is not None:
            if start["service_status"] not in statuses:
                raise InvalidCursor("the cursor does not describe a position in this list")
            first = statuses.index(start["service_status"])
        pages = await self._concurrently(
            self._query(status_query(self._table, status), limit + 1, start if place == 0 else None)
            for place, status in enumerate(statuses[first:])
        )
        items = [item for page in pages for item in page][: limit + 1]
        return self._page(items, limit, scope, INDEX_KEY)

    async def all_with_status(
        self, statuses: Sequence[str], *, fields: Sequence[str] | None = None
    ) -> list[ServiceRequest]:
        """Every request in any of `statuses`, in that order, then by license plate: no pages, no Scan.

        The Queries (one per status) run concurrently. `fields` limits the attributes read back
        (the keys are always included).
        """
        pages = await self._concurrently(
            self._query(status_query(self._table, status, fields), None, None) for status in statuses
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
                queries.append(vehicle_query(self._table, plate))
            else:
                # The cursor's partition, and those before it, have returned the cursor's id already.
                done = place <= plates.index(after["license_plate"])
                queries.append(vehicle_query(self._table, plate, after["service_id"], inclusive=not done))
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

    async def _query(
        self, query: QueryInputTypeDef, wanted: int | None, start: dict[str, str] | None
    ) -> list[Item]:
        """Up to `wanted` items (None: all) of one Query, following LastEvaluatedKey across pages."""
        items: list[Item] = []
        start_key: Mapping[str, Any] | None = exclusive_start(start) if start else None
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
            next_cursor = self._cursors.encode(scope, position(items[-1], keys))
        return ServiceRequestPage(items=[to_model(item) for item in items], next_cursor=next_cursor)
