"""A value kept in this process for a few seconds, so that a burst of callers costs one computation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from service.core.clock import Clock, wall_clock

T = TypeVar("T")


class RecentValue(Generic[T]):
    """A value at most `max_age` seconds old, counted from when its computation started: callers within
    that time share it, and those arriving while it is computed share that one computation (so a burst
    at expiry still costs one). A failed computation is not kept; `max_age` 0 computes for every caller."""

    def __init__(self, max_age: float, *, clock: Clock = wall_clock) -> None:
        self._max_age = max_age
        self._clock = clock
        self._started: float | None = None
        self._computing: asyncio.Future[T] | None = None
        self._value: T | None = None

    async def get(self, compute: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        # A clock set back makes the age negative: that value's age is unknown, so it is not used.
        fresh = self._started is not None and 0 <= now - self._started < self._max_age
        if fresh and self._computing is None:
            return self._value  # type: ignore[return-value]  # set whenever _started is, once computed
        if not fresh:
            self._computing = asyncio.ensure_future(compute())
            self._started = now
            self._computing.add_done_callback(self._computed)
        assert self._computing is not None
        # Shielded: a caller that goes away does not cancel the computation the others wait for.
        return await asyncio.shield(self._computing)

    def forget(self) -> None:
        """Drop the value kept: the next caller computes anew (one already under way is not waited for)."""
        self._started = None
        self._computing = None
        self._value = None

    def _computed(self, task: asyncio.Future[T]) -> None:
        if task is not self._computing:
            return  # superseded by a later computation
        self._computing = None
        if task.cancelled() or task.exception() is not None:
            self._started = None
        else:
            self._value = task.result()
