"""Who calls: the network address that a public route's limits count, whether the caller proved to be a
technician (technicians are not limited), and the caller an Idempotency-Key belongs to."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from service.core.errors import ServiceError
from service.identity.claims import Authenticator, Claims, subject

# Every IPv6 subscriber gets a /64 network at least, and any address of it as easily as another.
IPV6_PREFIX = 64
# Where the server knows no address (a Unix socket): such callers share one count.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Caller:
    """Who sends a request, as their Idempotency-Keys are kept apart from everyone else's: a technician by
    their `sub`, an anonymous caller by the address its limits count (`address`; None for a technician).
    The kind comes first, so no technician's `sub` can pass for an address."""

    name: str
    address: str | None = None

    @classmethod
    def technician(cls, claims: Claims) -> Caller:
        return cls(f"technician {subject(claims)}")

    @classmethod
    def anonymous(cls, address: str) -> Caller:
        return cls(f"address {address}", address)


def client_address(connection: HTTPConnection) -> str:
    """The address a request comes from, as limits count it: the peer the ASGI server names (uvicorn puts
    the X-Forwarded-For entry there only when the peer is in FORWARDED_ALLOW_IPS; on Lambda it is the
    event's source address), an IPv6 address as its /64 network."""
    host = connection.client.host if connection.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


async def public_caller(connection: HTTPConnection, authenticator: Authenticator) -> Caller:
    """Who calls a public route: the technician whose credentials the request carries, else an anonymous
    caller. Public routes serve everyone, so credentials found wanting (or keys that cannot be fetched)
    make an anonymous caller, not a refusal."""
    if connection.headers.get("authorization"):
        try:
            return Caller.technician(await authenticator.authenticate(connection))
        except ServiceError:
            pass
    return Caller.anonymous(client_address(connection))
