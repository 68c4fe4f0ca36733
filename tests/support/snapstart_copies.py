"""Lambda SnapStart, simulated: one process initialised as Lambda's init phase leaves it (the handler's module
imported), its before-snapshot hooks run as the runtime runs them, then copies forked from it one at a time,
each running the after-restore hooks and answering one event through the handler.

    python -P tests/support/snapstart_copies.py [--copies N] [--hold-ulid-clock] EVENT_JSON

Prints one line of JSON: the seconds the initialisation took, and for each copy the seconds from the fork to
its answer, the answer, and a number drawn from `random` after the restore. The handler's module, and
snapshot_restore_py (which Lambda's runtime provides), come from PYTHONPATH.

What a fork leaves out of a restore: the VM's memory is restored from Lambda's snapshot cache, its network
set up again, and the runtime told to resume; here the copy shares the parent's memory until it writes it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import time
from typing import Any

import snapshot_restore_py
import ulid


def run_before_snapshot() -> None:
    """As the runtime runs them: in the reverse order of their registration."""
    for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        func(*args, **kwargs)


def run_after_restore() -> None:
    """As the runtime runs them: in the order of their registration."""
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


def restored_copy(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Fork a copy, restore it and let it answer `event`; what it answered, and when."""
    state = random.getstate()
    read_end, write_end = os.pipe()
    forked = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the copy
        os.close(read_end)
        # Python reseeds `random` in a forked child; nothing does in a restored VM, so undo it.
        random.setstate(state)
        run_after_restore()
        response = handler(event, None)
        answered = time.perf_counter()
        drawn = random.random()  # noqa: S311 - what a copy's `random` draws is the point here
        report = {"restore": answered - forked, "response": response, "random": drawn}
        with os.fdopen(write_end, "w") as pipe:
            json.dump(report, pipe)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        copy: dict[str, Any] = json.loads(pipe.read() or "null")
    _, status = os.waitpid(pid, 0)
    if copy is None or status != 0:
        raise SystemExit(f"the restored copy failed (wait status {status})")
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("event", help="the event each copy answers, as JSON")
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument(
        "--hold-ulid-clock",
        action="store_true",
        help="the ULID generator's clock stands still from the snapshot on: every copy makes its ids in the "
        "millisecond of the snapshot's last id, where a generator would continue from its saved state",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    module = importlib.import_module("lambda_adapter.handler")
    if args.hold_ulid_clock:
        now = ulid.ULIDGenerator().clock()
        ulid.default_generator = ulid.ULIDGenerator(clock=lambda: now)
    imported = time.perf_counter()
    run_before_snapshot()
    ready = time.perf_counter()
    copies = [restored_copy(module.handler, json.loads(args.event)) for _ in range(args.copies)]
    print(json.dumps({"import": imported - started, "before_snapshot": ready - imported, "copies": copies}))


if __name__ == "__main__":
    main()
