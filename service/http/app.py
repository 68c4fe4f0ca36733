"""The app factory: the same FastAPI app for uvicorn, the tests and the Lambda adapter."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.util import find_spec
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException
from starlette.routing import Match

from service.core.cache import RecentValue
from service.core.clock import Clock, wall_clock
from service.core.errors import (
    BodyTooLarge,
    FieldError,
    HttpError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ServiceError,
    ValidationFailed,
)
from service.core.settings import Settings
from service.http.bodylimit import BodyLimit
from service.http.deps import document_bearer, needs_technician
from service.http.doc_pages import ASSETS_PATH, PAGES, add_docs
from service.http.edge import Edge
from service.http.requestlog import REQUEST_ID_HEADER
from service.http.responses import error_response, error_schemas
from service.http.routes import health, requests, website
from service.identity.modes import build_authenticator
from service.storage.backend import Backend

log = logging.getLogger(__name__)

OPENAPI_URL = "/openapi.json"


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(error["type"] == "json_invalid" for error in exc.errors()) and needs_technician(request.scope):
        # FastAPI reads the body before the route's dependencies run: a body that is not JSON would be
        # answered before the token is checked. Check it first, so a caller without one learns nothing.
        try:
            await request.app.state.authenticator.authenticate(request)
        except ServiceError as refused:
            return error_response(refused)
    fields = []
    for error in exc.errors():
        location, *path = [str(part) for part in error["loc"]] or ["body"]
        fields.append(FieldError(field=".".join(path) or location, location=location, message=error["msg"]))
    return error_response(ValidationFailed(fields))


# Every method a route might serve; OPTIONS only when a route does (CORS answers preflights itself).
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette names only the methods of the first route
    that matched the path, so the router is asked once per method."""
    allowed = []
    for method in _METHODS:
        probe = {"type": "http", "method": method, "path": request.scope["path"]}
        probe["root_path"] = request.scope.get("root_path", "")
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def _unreadable_json(cause: BaseException | None) -> str | None:
    """What is wrong with a body that FastAPI's JSON parsing raised `cause` for, or None if it is not the
    body's JSON. FastAPI answers 422 to broken JSON but 400 to these; they are the same documented 422."""
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not UTF-8 encoded JSON"  # JSON is UTF-8 (RFC 8259)
    if isinstance(cause, RecursionError):
        return "the body's JSON is nested too deeply"
    if isinstance(cause, ValueError):  # json.loads raises nothing else; FastAPI catches JSONDecodeError
        if "integer string conversion" in str(cause):
            # Python reads no integer of more digits than this (a guard against quadratic-time conversion).
            return f"the body's JSON holds a number of more than {sys.get_int_max_str_digits()} digits"
        return "the body cannot be read as JSON"
    return None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and (problem := _unreadable_json(exc.__cause__)):
        error = {"type": "json_invalid", "loc": ("body",), "msg": problem}
        return await _validation_error(request, RequestValidationError([error]))
    headers = dict(exc.headers or {})
    if exc.status_code == BodyTooLarge.status_code:
        # Starlette's body limit (service.http.bodylimit), in place of the chunk that passed it.
        return error_response(BodyTooLarge(request.app.state.settings.max_body_bytes))
    if exc.status_code == NotFound.status_code:
        return error_response(NotFound(str(exc.detail)))
    if exc.status_code == MethodNotAllowed.status_code:
        headers["Allow"] = _allowed_methods(request)
        return error_response(MethodNotAllowed(str(exc.detail), headers=headers))
    return error_response(HttpError(exc.status_code, str(exc.detail), headers=headers))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # This handler runs outside the Edge middleware, which left the request's id in the request state: it
    # marks its answer as the Edge marks every other.
    request_id: str | None = getattr(request.state, "request_id", None)
    extra = {"request_id": request_id} if request_id else {}
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc, extra=extra)
    response = error_response(InternalError())
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def fastapi_telemetry() -> TelemetryConfig | None:
    """FastAPI's own OpenTelemetry spans, metrics and logs: as FastAPI sets them where an OpenTelemetry SDK
    is installed (the AWS Distro's Lambda layer, an image that adds `opentelemetry-sdk`), off where none is.
    There, nothing could record them, and FastAPI's check for a configured provider, made on every request
    because a provider may be set later, reads the environment three times: about 4% of a GET's own work."""
    if find_spec("opentelemetry.sdk") is not None:
        return None
    return {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None, *, clock: Clock = wall_clock) -> FastAPI:
    """Build the app; nothing connects until the lifespan starts or the first request needs DynamoDB.

    `clock` is what limits, Idempotency-Key leases and the public list's copy read the time from.
    """
    settings = settings or Settings()
    backend = Backend(settings, clock=clock)
    authenticator = build_authenticator(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.auth == "none":
            log.warning("AUTH_MODE=none: every caller is treated as a technician; for local development only")
        try:
            await backend.repository()
        except Exception:
            log.warning("DynamoDB client not ready at start; retrying on first use", exc_info=True)
        yield
        await backend.aclose()

    routers = (website.router, website.admin, requests.router, health.router)
    app = FastAPI(
        # The routers' routes are the app's own, as routes declared on the app are. Included instead
        # (include_router), FastAPI 0.165 keeps each router as a node of the app's router that every request
        # walks twice, to match it and then to find the route in it: about a tenth of the app's own work.
        # These routers bring nothing else to include (prefixes, dependencies and answers are already their
        # routes'), and no dependency is overridden on the app.
        routes=[route for router in routers for route in router.routes],
        title="Quick Oil Change and Repair: service requests",
        version="0.1.0",
        summary="Create, track and complete the shop's vehicle service requests.",
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        docs_url=None,  # add_docs serves both pages with local assets
        redoc_url=None,
        telemetry=fastapi_telemetry(),
    )
    app.state.backend = backend
    app.state.authenticator = authenticator
    app.state.settings = settings
    # Set by `serve` on SIGTERM while it drains: the probes then answer 503 (service/routes/health.py).
    app.state.draining = False
    app.state.public_list = RecentValue[bytes](settings.public_list_cache_seconds, clock=clock)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    add_docs(app, openapi_url=OPENAPI_URL)

    def openapi() -> dict[str, Any]:
        # Written on the first request for it, then kept by FastAPI.
        written = app.openapi_schema is not None
        document = FastAPI.openapi(app)
        if not written:
            components = document.setdefault("components", {})
            components["schemas"] = dict(sorted({**components.get("schemas", {}), **error_schemas()}.items()))
            document_bearer(
                document, (r for router in routers for r in router.routes if isinstance(r, APIRoute))
            )
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    # Inside CORS (the Edge's grants), so a browser can read the 413 too.
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(
        Edge,
        public_paths={website.PUBLIC_PATH},
        # Health and docs are not the technicians': any page's request reaches them, whose answer only the
        # pages granted may read.
        open_paths={*(r.path for r in health.router.routes if isinstance(r, APIRoute)), OPENAPI_URL, *PAGES},
        open_prefixes=(f"{ASSETS_PATH}/",),
        origins=settings.technician_origins,
        allow_credentials=settings.cors_allow_credentials,
        # AUTH_MODE=none: everyone is a technician, so only for this machine, whatever name a web page
        # resolves to it.
        local_only=settings.auth == "none",
        extra_hosts=settings.allowed_hosts,
    )
    return app
