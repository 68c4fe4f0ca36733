"""Creating a request once: the public form's and the REST API's protocol around the repository's put. The
per-address limit, the duplicate-form key and the Idempotency-Key claims decide whether a create stores a
request or is answered the one an earlier call stored, and the outcome is recorded for the calls to come."""

from __future__ import annotations

import logging
import secrets
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from ulid import ULID

from service.core.clock import Clock, wall_clock
from service.core.errors import AlreadyExists, BackendUnavailable, RequestInProgress
from service.core.models import ServiceRequest, ServiceRequestCreate
from service.storage.guard import deadline_guard
from service.storage.idempotency import DEFAULT_TTL_SECONDS, IdempotencyKey, IdempotencyRecords, duplicate_key
from service.storage.items import Item, to_model
from service.storage.ratelimit import WindowLimit
from service.storage.repository import Repository

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

# What makes two forms the same request (see Repository.create's `once_per_form`).
_FORM_FIELDS = frozenset({"license_plate", "phone_number", "service_description"})
# A create whose keys another call keeps taking over gives up after this many rounds.
_CREATE_ROUNDS = 3


class Submissions:
    """Creates through one repository, each once per Idempotency-Key and (for the form) per form, and the
    anonymous creates counted per address, in the Idempotency-Key table."""

    def __init__(
        self,
        repository: Repository,
        client: DynamoDBClient,
        *,
        idempotency_table: str,
        idempotency_ttl: int = DEFAULT_TTL_SECONDS,
        duplicate_window: int = 600,
        public_create_limit: int = 60,
        public_create_window: int = 600,
        deadline: float = 10.0,
        clock: Clock = wall_clock,
    ) -> None:
        self._repository = repository
        self._idempotency_table = idempotency_table
        self._duplicate_window = duplicate_window

        def guard() -> AbstractAsyncContextManager[None]:
            return deadline_guard(deadline, table=idempotency_table)

        self._keys = IdempotencyRecords(
            client,
            idempotency_table,
            guard=guard,
            still_open=repository.still_open,
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
        request it stored is still in the table and open (see Repository.still_open); after that such a
        call stores a new request, and its repeats are answered that one.
        """
        service_id = new.service_id or str(ULID())
        keys = [idempotency] if idempotency is not None else []
        if once_per_form:
            form = new.model_dump_json(include=set(_FORM_FIELDS))
            keys.append(duplicate_key(form, self._duplicate_window))
        if not keys:
            return to_model(await self._repository.put_new(new, service_id, by)), False
        body = new.model_dump_json()
        holder = secrets.token_hex(16)
        for _ in range(_CREATE_ROUNDS):
            try:
                claims = await self._keys.claim_all(keys, body, new.license_plate, service_id, holder)
            except BackendUnavailable as unavailable:
                if idempotency is not None:
                    raise  # a caller's key must be honoured, or refused
                self._without_limits(unavailable)
                return to_model(await self._repository.put_new(new, service_id, by)), False
            answered = claims[-1].outcome
            if answered is not None:
                return to_model(answered), True
            service_id = claims[0].service_id
            if any(claim.taken_over for claim in claims):
                # The call that claimed first may have stored the request before it stopped.
                stored, replayed = await self._find_or_put(new, service_id, by)
            else:
                try:
                    stored, replayed = await self._repository.put_new(new, service_id, by), False
                except AlreadyExists:
                    if await self._keys.release_all(claims, holder):
                        raise  # the given service_id belongs to another request
                    continue  # another call took a key over meanwhile: its outcome is the answer
            await self._keys.complete_all(claims, holder, stored)
            return to_model(stored), replayed
        raise RequestInProgress("other calls with this Idempotency-Key keep taking it over", retry_after=1)

    async def _find_or_put(self, new: ServiceRequestCreate, service_id: str, by: str) -> tuple[Item, bool]:
        """The request stored under `service_id` already, or else stored now; and whether it was there."""
        for _ in range(2):
            item = await self._repository.read(new.license_plate, service_id)
            if item is not None:
                return item, True
            try:
                return await self._repository.put_new(new, service_id, by), False
            except AlreadyExists:
                continue  # stored at this moment by a holder thought to have stopped: read it
        raise AlreadyExists(f"service request {new.license_plate}/{service_id} exists already")
