"""A stand-in for a Cognito user pool: RSA keys made here, their JWKS served from 127.0.0.1, tokens minted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from tests.support.servers import Answer, Request, json_server

POOL_ID = "us-east-1_TestPool1"
CLIENT_ID = "website-client-id"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# Longest a JWKS request waits while the endpoint hangs, so that no test can leave a thread stuck.
HANG_AT_MOST = 60


class UserPool:
    """Signs tokens the way Cognito does and publishes the public key as a JWKS; can rotate its key, and
    its JWKS endpoint can hang."""

    def __init__(self, jwks_url: str) -> None:
        self.jwks_url = jwks_url
        self.key = new_key()
        self.kid = "test-key-1"
        self.jwks_requests = 0
        self._answering = threading.Event()
        self._answering.set()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def rotate(self, kid: str) -> None:
        """Sign with a new key from now on, and publish only that one: the old key leaves the pool."""
        self.key, self.kid = new_key(), kid

    @contextmanager
    def hanging(self) -> Iterator[None]:
        """While the block runs, the JWKS endpoint takes requests and answers none of them."""
        self._answering.clear()
        try:
            yield
        finally:
            self._answering.set()

    def answer_jwks(self) -> dict[str, Any]:
        """What the JWKS endpoint answers, once it answers."""
        self.jwks_requests += 1
        self._answering.wait(HANG_AT_MOST)
        return self.jwks()

    def token(
        self,
        *,
        key: RSAPrivateKey | None = None,
        kid: str | None = None,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        """An ID token of a technician; keyword arguments replace claims (None removes one)."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": "4f1c2b9e-technician",
            "cognito:username": "tech",
            "email": "tech@example.com",
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "token_use": "id",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        headers = {"kid": kid or self.kid}
        if algorithm == "none":
            return jwt.encode(payload, "", algorithm="none", headers=headers)
        return jwt.encode(payload, key or self.key, algorithm=algorithm, headers=headers)


@contextmanager
def serve_user_pool() -> Iterator[UserPool]:
    """A UserPool whose JWKS is served over HTTP on a free port of 127.0.0.1."""
    pool: UserPool

    def jwks(_: Request) -> Answer:
        return Answer(200, pool.answer_jwks())

    with json_server(jwks) as url:
        pool = UserPool(f"{url}/.well-known/jwks.json")
        yield pool
