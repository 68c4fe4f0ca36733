"""What the service reads the time from: passed in, so that windows, leases and caches can be tested
without waiting for them."""

from __future__ import annotations

import time
from collections.abc import Callable

# Seconds since the epoch, as time.time gives them: the records that several instances share (limits,
# Idempotency-Key leases and expiry) compare times taken on different machines.
Clock = Callable[[], float]

wall_clock: Clock = time.time
