"""Creating a request once: the public form's and the REST API's protocol around the repository's put. The
per-address limit, the duplicate-form key and the Idempotency-Key claims decide whether a create stores a
request or is answered the one an earlier call stored, and the outcome is recorded for the calls to come;
deleting a request the form stored frees its form."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from pydantic import ValidationError
from ulid import ULID

from service.core.clock import Clock, wall_clock
from service.core.errors import AlreadyExists, BackendUnavailable, RequestInProgress
from service.core.models import PUBLIC_ACTOR, ItemKey, ServiceRequest, ServiceRequestCreate
from service.storage.guard import deadline_guard
from service.storage.idempotency import (
    DEFAULT_TTL_SECONDS,
    Claim,
    IdempotencyKey,
    IdempotencyRecords,
    duplicate_key,
)
from service.storage.items import Item, new_item, text, to_model
from service.storage.ratelimit import WindowLimit
from service.storage.repository import Repository
from service.storage.tables import HISTORY

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
            request_state=repository.request_state,
            ttl_seconds=idempotency_ttl,
            # A holder makes at most a few DynamoDB calls, each within the deadline, between claiming a key
            # and recording its outcome (claims of its other key included): past this lease it has stopped.
            lease_seconds=6 * deadline,
            # A form's holder stores its request in the round after its claim's, each within the deadline.
            store_seconds=2 * deadline,
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

    async def _count(self, address: str) -> None:
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
        counted: str | None = None,
    ) -> tuple[ServiceRequest, bool]:
        """Store a new request; never overwrites. Returns it, and whether an earlier call stored it. Its
        status history starts with its status, given `by` (a technician's `sub`, or `public`).

        Raises AlreadyExists when a given service_id is taken. With an `idempotency` key, every call with
        the key (and the same body, on the same route) is answered the request the first one stored, as it
        was stored: it is never stored again, however the calls interleave and whatever became of the item
        since. The same key with another body raises IdempotencyKeyReused. With `once_per_form`, so is every
        call with the same plate, phone number and description within the duplicate window, while the
        request it stored is still in the table and open (see Repository.request_state); after that such a
        call stores a new request, and its repeats are answered that one. A `counted` address is counted
        against PUBLIC_CREATE_LIMIT first (see `_count`).

        The count and the keys' claims are one round of concurrent writes, and the request's PutItem the
        next: a form takes two round trips. The form's claim records the request it is about to store, so
        nothing is left to record after it; an Idempotency-Key's record is completed in a third, once the
        request is stored, since its replay answers what was stored.
        """
        service_id = new.service_id or str(ULID())
        if idempotency is None and not once_per_form:
            if counted is not None:
                await self._count(counted)
            return to_model(await self._repository.put_new(new, service_id, by)), False
        body = new.model_dump_json()
        form = self._form_key(new) if once_per_form else None
        holder = secrets.token_hex(16)
        for _ in range(_CREATE_ROUNDS):
            item = new_item(new, service_id, by)
            try:
                claims = await self._claim(counted, idempotency, form, body, item, holder)
            except BackendUnavailable as unavailable:
                if idempotency is not None:
                    raise  # a caller's key must be honoured, or refused
                self._without_limits(unavailable)
                return to_model(await self._repository.put_new(new, service_id, by)), False
            caller, per_form = claims
            answered = next((c.outcome for c in claims if c is not None and c.outcome is not None), None)
            ours = [claim for claim in claims if claim is not None and claim.outcome is None]
            if answered is not None:
                # A key stands for a request stored already: the caller's key's request, else the form's.
                if caller is not None and caller.outcome is None:
                    await self._keys.complete(caller, holder, answered)
                elif per_form is not None and per_form.outcome is None:
                    await self._keys.release([per_form], holder)
                return to_model(answered), True
            try:
                if caller is not None and caller.taken_over:
                    # The call that claimed first may have stored the request before it stopped.
                    stored, replayed = await self._find_or_put(new, caller.service_id, by)
                else:
                    stored, replayed = await self._repository.insert(item), False
            except AlreadyExists:
                if caller is not None and caller.taken_over:
                    raise  # stored at this moment by a holder thought to have stopped, and gone again
                if await self._keys.release(ours, holder):
                    raise  # the given service_id belongs to another request
                continue  # another call took a key over meanwhile: its outcome is the answer
            except Exception:
                # A key taken over may stand for a request its first holder stored: never freed.
                await self._release_quietly([claim for claim in ours if not claim.taken_over], holder)
                raise
            await asyncio.gather(
                *(
                    self._keys.complete(claim, holder, stored)
                    for claim in ours
                    if not claim.prerecorded or stored is not item
                )
            )
            return to_model(stored), replayed
        raise RequestInProgress("other calls with this Idempotency-Key keep taking it over", retry_after=1)

    def _form_key(self, new: ServiceRequestCreate) -> IdempotencyKey:
        return duplicate_key(new.model_dump_json(include=set(_FORM_FIELDS)), self._duplicate_window)

    async def _claim(
        self,
        counted: str | None,
        idempotency: IdempotencyKey | None,
        form: IdempotencyKey | None,
        body: str,
        item: Item,
        holder: str,
    ) -> tuple[Claim | None, Claim | None]:
        """In one round: count `counted`, claim the caller's key and claim the form's key recording `item`
        as its outcome. The claims, the keys claimed afresh freed again when anything failed."""
        license_plate, service_id = item["license_plate"]["S"], item["service_id"]["S"]

        async def claim(key: IdempotencyKey | None, stores: Item | None) -> Claim | None:
            if key is None:
                return None
            fingerprint = key.fingerprint(body)
            # The form's key records its own request, never one a stopped holder may have stored.
            adopt = stores is None
            return await self._keys.claim(
                key, fingerprint, license_plate, service_id, holder, stores=stores, adopt=adopt
            )

        counting = asyncio.ensure_future(
            self._anonymous_creates.admit(counted) if counted is not None else asyncio.sleep(0)
        )
        caller_claim = asyncio.ensure_future(claim(idempotency, None))
        form_claim = asyncio.ensure_future(claim(form, item))
        await asyncio.wait([caller_claim])
        if not caller_claim.cancelled() and caller_claim.exception() is None:
            answered = caller_claim.result()
            if answered is not None and answered.outcome is not None:
                # The caller's key answers: the form's claim, which may be waiting for another call's
                # request, no longer matters.
                form_claim.cancel()
        count, caller, per_form = await asyncio.gather(
            counting, caller_claim, form_claim, return_exceptions=True
        )
        if isinstance(per_form, asyncio.CancelledError) and form_claim.cancelled():
            per_form = None
        claims = (caller, per_form)
        failure = next((r for r in (count, *claims) if isinstance(r, BaseException)), None)
        if failure is not None:
            held = [c for c in claims if isinstance(c, Claim) and c.outcome is None and not c.taken_over]
            await self._release_quietly(held, holder)
            raise failure
        return claims  # type: ignore[return-value]

    async def _release_quietly(self, claims: list[Claim], holder: str) -> None:
        """Free keys claimed afresh that nothing was stored under, so that a retry need not wait for them; a
        failure to is only logged (the keys' leases end by themselves)."""
        if not claims:
            return
        try:
            await self._keys.release(claims, holder)
        except Exception:
            log.warning("cannot free the keys of a create that failed", exc_info=True)

    async def delete(self, keys: Sequence[ItemKey], *, if_version: frozenset[int] | None = None) -> None:
        """Delete a request (see Repository.delete); a request the public form stored frees its form's key
        at once, so the same form sent again is a new request without waiting (IdempotencyRecords.forget)."""
        deleted = await self._repository.delete(keys, if_version=if_version)
        history = deleted.get(HISTORY, {}).get("L", [])
        if not history or history[0].get("M", {}).get("by", {}).get("S") != PUBLIC_ACTOR:
            return
        try:
            fields = {name: text(deleted.get(name)) for name in _FORM_FIELDS}
            form = ServiceRequestCreate.model_validate(fields)
            await self._keys.forget(self._form_key(form), text(deleted.get("service_id")) or "")
        except (ValidationError, BackendUnavailable):
            # Changed since it was stored, or the records' table is missing: the key waits out its
            # request's storing time instead.
            log.info("the form of a deleted request was not freed", exc_info=True)

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
