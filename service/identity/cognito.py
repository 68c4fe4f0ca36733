"""Cognito user pool ID tokens, verified with PyJWT against the pool's published keys (AUTH_MODE=jwt)."""

from __future__ import annotations

import logging

import jwt
from starlette.requests import HTTPConnection

from service.core.errors import Unauthorized
from service.identity.claims import Claims
from service.identity.jwks import SigningKeys

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256",)  # what Cognito signs with; nothing else (and never "none") is accepted


class CognitoTokens:
    """AUTH_MODE=jwt: a Cognito user pool ID token in `Authorization: Bearer`, verified here."""

    def __init__(self, *, keys: SigningKeys, issuer: str, client_id: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._client_id = client_id

    async def authenticate(self, connection: HTTPConnection) -> Claims:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a technician's Cognito ID token is needed: Authorization: Bearer <token>")
        token = token.strip()
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"the token is not valid: {exc}", invalid=True) from exc
        if not isinstance(kid, str):
            raise Unauthorized("the token names no signing key", invalid=True)
        key = await self._keys.key(kid)
        try:
            claims: Claims = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self._client_id,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired", invalid=True) from exc
        except jwt.PyJWTError as exc:  # InvalidTokenError, or a key that does not fit the token
            raise Unauthorized(f"the token is not valid: {exc}", invalid=True) from exc
        if claims["token_use"] != "id":  # noqa: S105 - a claim's value, not a password
            raise Unauthorized("an ID token is needed, not an access token", invalid=True)
        return claims
