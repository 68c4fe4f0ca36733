"""Request ids and the one log line per HTTP request (both applied by service.http.edge.Edge).

A request's line gives the method, the path (license plates and ids only), the status and the duration;
never the query string (it may carry tokens), headers or bodies.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import Scope

log = logging.getLogger("service.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain, so it cannot forge log lines or smuggle data.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def sane_request_id(value: bytes) -> str | None:
    """The caller's X-Request-ID value when it is sane, else None."""
    return value.decode("ascii") if _SANE_REQUEST_ID.fullmatch(value) else None


def log_request(scope: Scope, status: int | None, started: float) -> None:
    """The request's line, once it is answered (`status` None: it was not); `started` is its
    `time.perf_counter()` when it arrived."""
    if not log.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    log.info(
        "%s %s %s %.1fms",
        scope["method"],
        scope["path"],
        status if status is not None else "no response",
        duration_ms,
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": duration_ms,
        },
    )
