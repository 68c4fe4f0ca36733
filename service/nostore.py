"""Technicians' answers hold customers' phone numbers and notes: `Cache-Control: no-store` keeps them out of
every browser and proxy cache, errors included."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.types import Scope

from service.answers import HeadersMiddleware
from service.deps import require_technician


def needs_technician(scope: Scope) -> bool:
    """Whether the route the request was routed to is for technicians only."""
    route = scope.get("route")
    return isinstance(route, APIRoute) and any(
        dependency.call is require_technician for dependency in route.dependant.dependencies
    )


class NoStoreForTechnicians(HeadersMiddleware):
    """Marks every answer of a technicians' route `Cache-Control: no-store`."""

    def edit(self, scope: Scope, status: int, headers: MutableHeaders) -> None:
        # Routing has picked the route by the time anything is answered.
        if needs_technician(scope):
            headers["Cache-Control"] = "no-store"
