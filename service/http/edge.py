"""The one middleware every HTTP request passes first: its id and its log line, the headers every answer
carries, the hosts that AUTH_MODE=none answers, and the CORS grant of the route asked for (or its refusal).

One pure-ASGI layer rather than one per concern: each layer costs every request a call, a scan of its
headers and a wrapped `send`; here the headers are read once and every answer is edited in one place. What
each concern decides lives in its own module (requestlog, hosts, deps, cors); this only applies it.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from service.core.errors import MisdirectedRequest, OriginNotAllowed
from service.core.hosts import answered, relative_location
from service.core.logs import request_id
from service.http.cors import cors_grants, is_same_origin
from service.http.deps import needs_technician
from service.http.requestlog import REQUEST_ID_HEADER, log_request, sane_request_id
from service.http.responses import error_response

_LOCAL_ONLY = (
    "with AUTH_MODE=none the service answers only requests to localhost, a loopback address or a name in "
    "ALLOWED_HOSTS"
)
_NOT_GRANTED = "pages from this origin may not use this route; see CORS_ORIGINS"
# The answer's headers that the edge sets or edits; an answer that has none of them gets its own appended.
_EDITED = frozenset([b"x-request-id", b"x-content-type-options", b"cache-control", b"vary", b"location"])
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_VARY_ORIGIN = (b"vary", b"Origin")


class Edge:
    """Around the app, for each HTTP request, in this order:

    1. its id: the caller's `X-Request-ID` when sane, else a new ULID; in every log line while it is served,
       in the request's state (the 500 handler answers outside this) and in the answer;
    2. with `local_only` (AUTH_MODE=none: everyone is a technician, so only for this machine), a `Host` that
       names neither this machine nor one of `extra_hosts` gets 421 and reaches nothing;
    3. CORS: a request with an `Origin` goes through the grant of its route (the public paths: any origin;
       the others: `origins`, None meaning the pages on this machine), which answers preflights itself.
       An origin the grant refuses, unless it is the service's own, gets 403 and reaches nothing: any
       preflight, and any request to a technicians' route, even one a browser sends without asking first.
       The `open_paths` (health, docs) and paths under `open_prefixes` answer it without a grant;
    4. every answer: its id, `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` from the
       technicians' routes, redirects to a path of this service only, `Vary: Origin`;
    5. one log line once it is answered.

    A request without an `Origin` costs none of step 3.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_paths: Collection[str],
        open_paths: Collection[str],
        open_prefixes: tuple[str, ...],
        origins: list[str] | None,
        allow_credentials: bool,
        local_only: bool,
        extra_hosts: Collection[str] = (),
    ) -> None:
        self.app = app
        self.public_paths = frozenset(public_paths)
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = open_prefixes
        self.public, self.technicians = cors_grants(app, origins=origins, allow_credentials=allow_credentials)
        self.local_only = local_only
        self.extra_hosts = frozenset(extra_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        host = origin = caller_id = None
        # The first of each, as Starlette's Headers.get reads them.
        for name, value in scope["headers"]:
            if name == b"host":
                host = value if host is None else host
            elif name == b"origin":
                origin = value if origin is None else origin
            elif name == b"x-request-id":
                caller_id = value if caller_id is None else caller_id
        rid = (caller_id is not None and sane_request_id(caller_id)) or str(ULID())
        scope.setdefault("state", {})["request_id"] = rid
        status: int | None = None

        app: ASGIApp = self.app
        vary = True  # every answer depends on the Origin; a grant says so itself
        if origin is not None:
            app, vary = self._cors(scope, origin.decode("latin-1"), (host or b"").decode("latin-1"))

        async def send_edited(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                _edit_headers(message, rid, technicians=needs_technician(scope), vary=vary)
            await send(message)

        token = request_id.set(rid)
        try:
            if self.local_only and not answered((host or b"").decode("latin-1"), self.extra_hosts):
                await error_response(MisdirectedRequest(_LOCAL_ONLY))(scope, receive, send_edited)
            else:
                await app(scope, receive, send_edited)
        except Exception:
            status = status or 500  # what the server error handler outside answers
            raise
        finally:
            log_request(scope, status, started)
            request_id.reset(token)

    def _cors(self, scope: Scope, origin: str, host: str) -> tuple[ASGIApp, bool]:
        """What answers a request from a page of `origin`, and whether its answer still needs `Vary: Origin`
        (a grant adds it itself)."""
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        grant = self.public if path in self.public_paths else self.technicians
        if grant.is_allowed_origin(origin):
            return grant, False
        if is_same_origin(origin, host):
            return self.app, True
        preflight = scope["method"] == "OPTIONS" and any(
            name == b"access-control-request-method" for name, _ in scope["headers"]
        )
        if not preflight and (path in self.open_paths or path.startswith(self.open_prefixes)):
            return self.app, True
        return error_response(OriginNotAllowed(_NOT_GRANTED)), True


def _edit_headers(message: Message, rid: str, *, technicians: bool, vary: bool) -> None:
    """Give the answer started by `message` its id, `nosniff`, `no-store` for the technicians' routes, a
    relative redirect, and `Origin` in its `Vary` when it needs it."""
    if _EDITED.isdisjoint(name for name, _ in message["headers"]):
        # Most answers: for them, what the general case below does comes to appending these.
        added = [(b"x-request-id", rid.encode("latin-1")), _NOSNIFF]
        if technicians:
            added.append(_NO_STORE)
        if vary:
            added.append(_VARY_ORIGIN)
        message["headers"] = [*message["headers"], *added]
        return
    headers = MutableHeaders(scope=message)
    headers[REQUEST_ID_HEADER] = rid
    headers["X-Content-Type-Options"] = "nosniff"
    if technicians:
        headers["Cache-Control"] = "no-store"
    if 300 <= message["status"] < 400 and "location" in headers:
        headers["location"] = relative_location(headers["location"])
    if vary:
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
