"""The one middleware every HTTP request passes first: its id and its log line, the headers every answer
carries, the hosts that AUTH_MODE=none answers, and the CORS grant of the route asked for.

One pure-ASGI layer rather than one per concern: each layer costs every request a call, a scan of its
headers and a wrapped `send`; here the headers are read once and every answer is edited in one place. What
each concern decides lives in its own module (requestlog, hosts, nostore, cors); this only applies it.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from service.cors import cors_grants
from service.errors import MisdirectedRequest
from service.hosts import is_local, relative_location
from service.logs import request_id
from service.nostore import needs_technician
from service.requestlog import REQUEST_ID_HEADER, log_request, sane_request_id
from service.responses import error_response

_LOCAL_ONLY = "with AUTH_MODE=none the service answers only requests to localhost or a loopback address"


class Edge:
    """Around the app, for each HTTP request, in this order:

    1. its id: the caller's `X-Request-ID` when sane, else a new ULID; in every log line while it is served,
       in the request's state (the 500 handler answers outside this) and in the answer;
    2. with `local_only` (AUTH_MODE=none: everyone is a technician, so only for this machine), a `Host` that
       does not name this machine gets 421 and reaches nothing;
    3. CORS: a request with an `Origin` goes through the grant of its route (the public paths: any origin;
       the technicians' routes: `origins`, or none), which answers preflights itself;
    4. every answer: its id, `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` from the
       technicians' routes, redirects to a path of this service only, `Vary: Origin` where a grant applies;
    5. one log line once it is answered.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_paths: Collection[str],
        origins: list[str],
        allow_credentials: bool,
        local_only: bool,
    ) -> None:
        self.app = app
        self.public_paths = frozenset(public_paths)
        self.public, self.technicians = cors_grants(app, origins=origins, allow_credentials=allow_credentials)
        self.local_only = local_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        host = caller_id = None
        has_origin = False
        # The first of each, as Starlette's Headers.get reads them.
        for name, value in scope["headers"]:
            if name == b"host":
                host = value if host is None else host
            elif name == b"origin":
                has_origin = True
            elif name == b"x-request-id":
                caller_id = value if caller_id is None else caller_id
        rid = (caller_id is not None and sane_request_id(caller_id)) or str(ULID())
        scope.setdefault("state", {})["request_id"] = rid
        status: int | None = None

        granted = self._grant(scope)
        app = granted if has_origin else self.app
        vary = granted is not self.app and not has_origin  # what the grant would have added

        async def send_edited(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = rid
                headers["X-Content-Type-Options"] = "nosniff"
                if needs_technician(scope):
                    headers["Cache-Control"] = "no-store"
                if 300 <= status < 400 and "location" in headers:
                    headers["location"] = relative_location(headers["location"])
                if vary:
                    headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            await send(message)

        token = request_id.set(rid)
        try:
            if self.local_only and not is_local((host or b"").decode("latin-1")):
                await error_response(MisdirectedRequest(_LOCAL_ONLY))(scope, receive, send_edited)
            else:
                await app(scope, receive, send_edited)
        except Exception:
            status = status or 500  # what the server error handler outside answers
            raise
        finally:
            log_request(scope, status, started)
            request_id.reset(token)

    def _grant(self, scope: Scope) -> ASGIApp:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return self.public if path in self.public_paths else self.technicians
