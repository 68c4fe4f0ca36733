"""Technicians' answers hold customers' phone numbers and notes: `Cache-Control: no-store` keeps them out of
every browser and proxy cache, errors included (service.edge.Edge marks them)."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.types import Scope

from service.deps import is_for_technicians


def needs_technician(scope: Scope) -> bool:
    """Whether the route the request was routed to is for technicians only."""
    route = scope.get("route")
    return isinstance(route, APIRoute) and is_for_technicians(route)
