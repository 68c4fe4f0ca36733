"""The public list from a per-instance copy at most PUBLIC_LIST_CACHE_SECONDS old: a burst of page views
costs one set of Queries; technicians' lists are read every time."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from service.core.cache import RecentValue
from service.core.models import ACTIVE_STATUSES, OPEN_STATUSES
from service.core.settings import Settings
from tests.support.calls import Calls
from tests.support.helpers import ManualClock, create

ANONYMOUS = {"Authorization": ""}


async def test_a_burst_of_page_views_costs_one_set_of_queries_per_interval(
    app: FastAPI, app_api: httpx.AsyncClient, settings: Settings, clock: ManualClock
) -> None:
    await create(app_api, service_status="Accepted")
    calls = await Calls.of(app)
    burst = await asyncio.gather(*(app_api.get("/service-request", headers=ANONYMOUS) for _ in range(20)))
    assert {r.status_code for r in burst} == {200}
    assert len({r.content for r in burst}) == 1
    assert calls.count("Query") == len(ACTIVE_STATUSES)

    clock.advance(settings.public_list_cache_seconds)
    await app_api.get("/service-request", headers=ANONYMOUS)
    assert calls.count("Query") == 2 * len(ACTIVE_STATUSES)


async def test_the_copy_is_at_most_the_interval_old(
    app_api: httpx.AsyncClient, settings: Settings, clock: ManualClock
) -> None:
    assert (await app_api.get("/service-request")).json() == []
    accepted = await create(app_api, service_status="Accepted")
    clock.advance(settings.public_list_cache_seconds - 0.1)
    assert (await app_api.get("/service-request")).json() == []
    clock.advance(0.1)
    rows = (await app_api.get("/service-request")).json()
    assert [row["service_id"] for row in rows] == [accepted["service_id"]]


async def test_technicians_lists_are_never_cached(app: FastAPI, app_api: httpx.AsyncClient) -> None:
    calls = await Calls.of(app)
    for _ in range(3):
        assert (await app_api.get("/admin-service-request")).status_code == 200
        assert (await app_api.get("/requests/active")).status_code == 200
    assert calls.count("Query") == 3 * (len(OPEN_STATUSES) + len(ACTIVE_STATUSES))
    new = await create(app_api)
    rows = (await app_api.get("/admin-service-request")).json()
    assert new["service_id"] in [row["service_id"] for row in rows]


async def test_a_failed_read_is_not_kept() -> None:
    clock = ManualClock()
    copy = RecentValue[int](2, clock=clock)
    reads = 0

    async def failing() -> int:
        nonlocal reads
        reads += 1
        raise ConnectionError("DynamoDB went away")

    async def working() -> int:
        nonlocal reads
        reads += 1
        return reads

    with pytest.raises(ConnectionError):
        await copy.get(failing)
    assert await copy.get(working) == 2
    assert await copy.get(working) == 2


async def test_callers_arriving_during_a_read_share_it_and_one_going_away_does_not_cancel_it() -> None:
    clock = ManualClock()
    copy = RecentValue[str](2, clock=clock)
    started, finish = asyncio.Event(), asyncio.Event()
    reads = 0

    async def slow() -> str:
        nonlocal reads
        reads += 1
        started.set()
        await finish.wait()
        return "list"

    first = asyncio.create_task(copy.get(slow))
    await started.wait()
    others = [asyncio.create_task(copy.get(slow)) for _ in range(5)]
    await asyncio.sleep(0)
    first.cancel()
    finish.set()
    assert await asyncio.gather(*others) == ["list"] * 5
    assert reads == 1


async def test_a_clock_set_back_does_not_keep_a_copy_forever() -> None:
    clock = ManualClock()
    copy = RecentValue[float](2, clock=clock)

    async def now() -> float:
        return clock()

    first = await copy.get(now)
    clock.advance(-3600)
    assert await copy.get(now) == first - 3600


async def test_no_copy_is_kept_with_an_interval_of_0() -> None:
    copy = RecentValue[int](0, clock=ManualClock())
    reads = 0

    async def read() -> int:
        nonlocal reads
        reads += 1
        return reads

    assert [await copy.get(read) for _ in range(3)] == [1, 2, 3]
