"""The DynamoDB calls of one app, watched and held through botocore's events: interleavings of concurrent
requests made deterministic, and calls counted."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI

from service.core.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


# How long a test waits for the calls it expects before it fails, rather than hang.
PATIENCE_SECONDS = 30


class Hold:
    """Holds the next call of one operation on one table until released."""

    def __init__(self, operation: str, table: str) -> None:
        self.operation = operation
        self.table = table
        self._reached = asyncio.Event()
        self._released = asyncio.Event()

    @property
    def is_reached(self) -> bool:
        return self._reached.is_set()

    async def reached(self) -> None:
        """Return once the call is held."""
        async with asyncio.timeout(PATIENCE_SECONDS):
            await self._reached.wait()

    def release(self) -> None:
        self._released.set()

    async def hold(self) -> None:
        self._reached.set()
        await self._released.wait()


class Calls:
    """Every call of the app's DynamoDB client, counted by operation and table once DynamoDB answered it
    (refusals included), and the calls held (`hold`) on their way."""

    def __init__(self, client: DynamoDBClient) -> None:
        self.answered: Counter[tuple[str, str]] = Counter()
        self._holds: list[Hold] = []
        self._changed = asyncio.Event()
        # aiobotocore awaits a handler's coroutine; botocore's stubs know only plain handlers.
        client.meta.events.register("before-parameter-build.dynamodb", self._before)  # type: ignore[arg-type]
        client.meta.events.register("after-call.dynamodb", self._after)

    @classmethod
    async def of(cls, app: FastAPI) -> Calls:
        return cls(await app.state.backend.client())

    def hold(self, operation: str, table: str) -> Hold:
        hold = Hold(operation, table)
        self._holds.append(hold)
        return hold

    def made(self) -> set[tuple[str, str]]:
        """Every (operation, table) answered so far."""
        return set(self.answered)

    def count(self, operation: str, table: str | None = None) -> int:
        return sum(n for (op, t), n in self.answered.items() if op == operation and table in (None, t))

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition` holds, looking again after each answered call."""
        async with asyncio.timeout(PATIENCE_SECONDS):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        table = params.get("TableName", "")
        # A Query of an index counts as a call on that index, as IAM sees it.
        index = params.get("IndexName")
        context["watched"] = (model.name, f"{table}/index/{index}" if index else table)
        for hold in self._holds:
            if (hold.operation, hold.table) == (model.name, table) and not hold.is_reached:
                await hold.hold()
                break

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        self.answered[context["watched"]] += 1
        self._changed.set()


async def stopped_at(hold: Hold, request: Coroutine[Any, Any, httpx.Response]) -> None:
    """Send `request` and stop it where `hold` holds its call, as a process that stops there would."""
    task = asyncio.ensure_future(request)
    await hold.reached()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def racing(
    calls: Calls,
    settings: Settings,
    first: Coroutine[Any, Any, httpx.Response],
    second: Coroutine[Any, Any, httpx.Response],
) -> tuple[httpx.Response, httpx.Response]:
    """`first` claims its key (an Idempotency-Key or its form's) and is held before it stores its request;
    `second`, with the same key, comes meanwhile; once `second` has stored a request itself or read the key's
    record twice (waiting for `first`), `first` goes on. Their answers."""
    store = calls.hold("PutItem", settings.table_name)
    first_task = asyncio.ensure_future(first)
    await store.reached()
    second_task = asyncio.ensure_future(second)
    await calls.until(
        lambda: (
            calls.count("PutItem", settings.table_name) > 0
            or calls.count("GetItem", settings.idempotency_table_name) >= 2
        )
    )
    store.release()
    return await first_task, await second_task
