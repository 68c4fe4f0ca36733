"""Technicians as one group of the user pool: the groups that claims name, and the authenticator that
admits only that group's members (TECHNICIAN_GROUP)."""

from __future__ import annotations

import json
import re

from starlette.requests import HTTPConnection

from service.core.errors import NotATechnician
from service.identity.claims import Authenticator, Claims

CLAIM = "cognito:groups"
# API Gateway passes claims on as strings: a REST API's Cognito authorizer lists groups as "a,b", an HTTP
# API's JWT authorizer as "[a b]". Cognito's group names hold no white space.
_SEPARATORS = re.compile(r"[\s,]+")


def groups_of(claims: Claims) -> frozenset[str]:
    """The groups `claims` name in `cognito:groups`: a list in an ID token, a string through API Gateway
    ("a", "a,b", "[a b]", or a JSON list); anything else names none."""
    value = claims.get(CLAIM)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                text = text.removeprefix("[").removesuffix("]")
        if isinstance(value, str):
            return frozenset(_SEPARATORS.split(text)) - {""}
    if isinstance(value, list):
        return frozenset(group for group in value if isinstance(group, str))
    return frozenset()


class GroupMembers:
    """Admits the users `authenticator` admits who are in `group`; other users' credentials, valid as they
    are, get NotATechnician (403)."""

    def __init__(self, authenticator: Authenticator, group: str) -> None:
        self._authenticator = authenticator
        self._group = group

    async def authenticate(self, connection: HTTPConnection) -> Claims:
        claims = await self._authenticator.authenticate(connection)
        if self._group not in groups_of(claims):
            raise NotATechnician("this user is not in the user pool's group of technicians")
        return claims
