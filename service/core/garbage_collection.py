"""Garbage collection for a process that serves requests: `serve` and the Lambda function both use it."""

from __future__ import annotations

import gc

# Allocations between two collections of the youngest generation (Python's default: 700).
GC_THRESHOLD = 10_000


def collect_less_often(*, collect_first: bool = True) -> None:
    """Each DynamoDB call allocates many short-lived objects (botocore), so Python's default of a
    collection every 700 allocations cost 10 to 15% of the CPU per request under load (bench/api_load.py).
    What was built so far (the app, the client) is frozen out of every later collection, after one
    collection unless `collect_first` is False (a cold start has no time for a pass over the whole heap)."""
    if collect_first:
        gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
