"""Cognito user pool ID tokens, verified with PyJWT against the pool's published keys (AUTH_MODE=jwt)."""

from __future__ import annotations

import logging

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from service.errors import BackendUnavailable, Unauthorized
from service.identity import Claims

log = logging.getLogger(__name__)

_ALGORITHMS = ["RS256"]  # what Cognito signs with; nothing else (and never "none") is accepted


class CognitoTokens:
    """AUTH_MODE=jwt: a Cognito user pool ID token in `Authorization: Bearer`, verified here."""

    def __init__(self, *, jwks_url: str, issuer: str, client_id: str) -> None:
        self._issuer = issuer
        self._client_id = client_id
        # PyJWKClient caches the key set (and refetches it at most once per cooldown for unknown key ids).
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    async def authenticate(self, connection: HTTPConnection) -> Claims:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a technician's Cognito ID token is needed: Authorization: Bearer <token>")
        token = token.strip()
        try:
            # The key lookup may fetch the key set over HTTP, which PyJWT does synchronously.
            key = await run_in_threadpool(self._keys.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("cannot fetch the token signing keys: %s", exc)
            raise BackendUnavailable("the token signing keys cannot be fetched") from exc
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            raise Unauthorized("the token is not signed by a key of this user pool", invalid=True) from exc
        try:
            claims: Claims = jwt.decode(
                token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self._client_id,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the token has expired", invalid=True) from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"the token is not valid: {exc}", invalid=True) from exc
        if claims["token_use"] != "id":  # noqa: S105 - a claim's value, not a password
            raise Unauthorized("an ID token is needed, not an access token", invalid=True)
        return claims
