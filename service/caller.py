"""Who calls a public route: the network address that its limits count, and whether the caller proved to be
a technician (technicians are not limited)."""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection

from service.errors import ServiceError
from service.identity import Authenticator

# Every IPv6 subscriber gets a /64 network at least, and any address of it as easily as another.
IPV6_PREFIX = 64
# Where the server knows no address (a Unix socket): such callers share one count.
UNKNOWN = "unknown"


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


async def proves_technician(connection: HTTPConnection, authenticator: Authenticator) -> bool:
    """Whether the request carries credentials of a technician. Public routes serve everyone, so
    credentials found wanting (or keys that cannot be fetched) make an anonymous caller, not a refusal."""
    if not connection.headers.get("authorization"):
        return False
    try:
        await authenticator.authenticate(connection)
    except ServiceError:
        return False
    return True
