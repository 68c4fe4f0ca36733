"""Who may act as a technician: Cognito ID tokens checked here, by API Gateway, or (locally) nobody checks."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from service.errors import BackendUnavailable, Unauthorized
from service.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

Claims = dict[str, Any]

_ALGORITHMS = ["RS256"]  # what Cognito signs with; nothing else (and never "none") is accepted


class Authenticator(Protocol):
    """Turns a request into the technician's claims, or raises Unauthorized."""

    async def authenticate(self, connection: HTTPConnection) -> Claims: ...


class OpenDoor:
    """AUTH_MODE=none: everyone is a technician. For local development only."""

    async def authenticate(self, connection: HTTPConnection) -> Claims:
        return {"sub": "local-developer", "auth_mode": "none"}


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


class GatewayClaims:
    """AUTH_MODE=gateway: API Gateway's Cognito authorizer checked the token and put its claims in the event.

    The service must then be reachable only through that API Gateway.
    """

    async def authenticate(self, connection: HTTPConnection) -> Claims:
        event = connection.scope.get("aws.event") or {}
        authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
        # REST APIs (v1) put the claims under `claims`, HTTP APIs (v2) JWT authorizers under `jwt.claims`.
        claims = authorizer.get("claims") or (authorizer.get("jwt") or {}).get("claims")
        if not isinstance(claims, dict) or not claims.get("sub"):
            raise Unauthorized("no Cognito authorizer claims came with this request")
        return claims


def build_authenticator(settings: Settings) -> Authenticator:
    """The authenticator for settings.auth; raises ConfigurationError when its settings are incomplete."""
    if settings.auth == "none":
        return OpenDoor()
    if settings.auth == "gateway":
        return GatewayClaims()
    missing = [
        name
        for name, value in (
            ("COGNITO_USER_POOL_ID", settings.cognito_user_pool_id),
            ("COGNITO_CLIENT_ID", settings.cognito_client_id),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(
            f"AUTH_MODE=jwt needs {' and '.join(missing)} (or AUTH_MODE=none for local development)"
        )
    issuer, client_id = settings.cognito_issuer, settings.cognito_client_id
    assert issuer is not None
    assert client_id is not None
    return CognitoTokens(
        jwks_url=settings.jwks_url or f"{issuer}/.well-known/jwks.json", issuer=issuer, client_id=client_id
    )
