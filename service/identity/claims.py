"""Who a request comes from: the technician's claims, and what turns a request into them."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import HTTPConnection

# A technician's identity: the claims of a Cognito ID token (`sub`, `cognito:username`, ...).
Claims = dict[str, Any]


class Authenticator(Protocol):
    """Turns a request into the technician's claims, or raises Unauthorized."""

    async def authenticate(self, connection: HTTPConnection) -> Claims: ...


def subject(claims: Claims) -> str:
    """Who the technician is, as status histories and Idempotency-Keys name them: the `sub` of their claims.
    Every authenticator gives one (AUTH_MODE=none's is `local-developer`); claims without any would all
    name one technician."""
    return str(claims.get("sub") or "unknown technician")
