"""Who may act as a technician: Cognito ID tokens checked here, by API Gateway, or (locally) nobody checks."""

from __future__ import annotations

import logging

from starlette.requests import HTTPConnection

from service.core.errors import Unauthorized
from service.core.settings import ConfigurationError, Settings
from service.identity.claims import Authenticator, Claims
from service.identity.groups import GroupMembers

log = logging.getLogger(__name__)


class OpenDoor:
    """AUTH_MODE=none: everyone is a technician. For local development only."""

    async def authenticate(self, connection: HTTPConnection) -> Claims:
        return {"sub": "local-developer", "auth_mode": "none"}


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
    """The authenticator for settings.auth, admitting only TECHNICIAN_GROUP's members when it is set;
    raises ConfigurationError when its settings are incomplete."""
    if settings.auth == "none":
        return OpenDoor()
    authenticator = GatewayClaims() if settings.auth == "gateway" else _cognito_tokens(settings)
    if settings.technician_group is not None:
        return GroupMembers(authenticator, settings.technician_group)
    return authenticator


def _cognito_tokens(settings: Settings) -> Authenticator:
    """AUTH_MODE=jwt: the pool's ID tokens, checked against its keys."""
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
    # Imported only here: PyJWT brings in `cryptography`, which a Lambda cold start in gateway mode skips.
    from service.identity.cognito import ALGORITHMS, CognitoTokens
    from service.identity.jwks import SigningKeys

    issuer, client_id = settings.cognito_issuer, settings.cognito_client_id
    assert issuer is not None
    assert client_id is not None
    keys = SigningKeys(
        settings.jwks_url or f"{issuer}/.well-known/jwks.json",
        algorithms=ALGORITHMS,
        lifetime=settings.jwks_cache_seconds,
        cooldown=settings.jwks_refetch_cooldown_seconds,
        timeout=settings.jwks_timeout_seconds,
    )
    return CognitoTokens(keys=keys, issuer=issuer, client_id=client_id)
