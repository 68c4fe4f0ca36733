"""Who a request comes from: the technician's claims, and what turns a request into them."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import HTTPConnection

# A technician's identity: the claims of a Cognito ID token (`sub`, `cognito:username`, ...).
Claims = dict[str, Any]


class Authenticator(Protocol):
    """Turns a request into the technician's claims, or raises Unauthorized."""

    async def authenticate(self, connection: HTTPConnection) -> Claims: ...
