"""The user pool's signing keys: PyJWT's `PyJWKClient` caches the set and fetches it again; here, one fetch
at a time serves every request that needs it, within a deadline.

Written for PyJWT 2.15.1. Its client is synchronous, and its lock makes each further caller wait, unbounded,
for the fetch that runs, then fetch again if that one failed: so requests share one fetch here, in a thread,
up to a deadline. Its refetch cooldown starts only when a fetch succeeds: so a failed fetch holds off the
next one for an unknown key id here. Its per-key cache (`cache_keys`) stays off: it never expires, and would
keep trusting a key the pool has dropped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Collection

import jwt
from starlette.concurrency import run_in_threadpool

from service.core.errors import BackendUnavailable, Unauthorized

log = logging.getLogger(__name__)


class SigningKeys:
    """The keys of one JWKS URL for `algorithms`, by key id.

    The set is used for at most `lifetime` seconds after it was fetched, so a key the pool has dropped
    stops being trusted by then. A key id the set lacks fetches it again, at most once per `cooldown`
    seconds, so tokens with made-up key ids cannot make the service hammer the pool. Every fetch replaces
    the whole set. While a fetch runs, every request that needs it waits for that same fetch, and for at
    most `timeout` seconds from its start.
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str],
        lifetime: float,
        cooldown: float,
        timeout: float,
    ) -> None:
        # A plain GET that follows no redirects; the whole set is cached, fetched again when it expires and
        # for an unknown key id at most once per cooldown after a fetch that succeeded. urllib's timeout
        # (each connect and read) is a little under the deadline, so that a fetch the pool leaves unanswered
        # fails before its waiters give up: it then holds the client's lock no longer than they wait, and
        # brings no set late.
        self._client = jwt.PyJWKClient(
            url, cache_jwk_set=True, lifespan=lifetime, cooldown_duration=cooldown, timeout=0.9 * timeout
        )
        assert self._client.jwk_set_cache is not None  # cache_jwk_set=True makes one
        self._cache = self._client.jwk_set_cache
        self._algorithms = frozenset(algorithms)
        self._cooldown = cooldown
        self._timeout = timeout
        self._failed_at = -math.inf  # when the last fetch failed
        self._fetch: asyncio.Task[jwt.PyJWK] | None = None
        self._fetch_deadline = -math.inf

    async def key(self, kid: str) -> jwt.PyJWK:
        """The signing key with id `kid`; Unauthorized when the pool has none, BackendUnavailable when the
        set cannot be fetched."""
        key = self._cached(kid)
        fresh = self._cache.get() is not None
        # A fresh set that lacks the key id is fetched again, unless a fetch failed within the cooldown.
        if key is None and not (fresh and time.monotonic() - self._failed_at < self._cooldown):
            await self._refresh(kid)
            key = self._cached(kid)
        # Only keys that verify the algorithms accepted: an HMAC key under a token's key id would otherwise
        # reach the RSA verifier.
        if key is None or key.algorithm_name not in self._algorithms:
            raise Unauthorized("the token is not signed by a key of this user pool", invalid=True)
        return key

    def _cached(self, kid: str) -> jwt.PyJWK | None:
        """The signing key `kid` of the set while it is fresh, read without the client's lock or a fetch."""
        key_set = self._cache.get()
        keys = key_set.keys if key_set is not None else []
        return next((k for k in keys if k.key_id == kid and k.public_key_use in ("sig", None)), None)

    async def _refresh(self, kid: str) -> None:
        """Join the fetch that is running, or start one; wait for it until its deadline at most."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        fetch = self._fetch
        if fetch is None or fetch.done() or now >= self._fetch_deadline or fetch.get_loop() is not loop:
            # A fetch past its deadline is left to end by itself: its thread cannot be stopped, and the
            # client's lock holds the next fetch until it has.
            self._fetch_deadline = now + self._timeout
            # urllib is synchronous; the deadline bounds the whole fetch, of one or two GETs.
            fetch = self._fetch = loop.create_task(run_in_threadpool(self._client.get_signing_key, kid))
            fetch.add_done_callback(_retrieve_outcome)
        try:
            # Shielded: a request that stops waiting leaves the fetch running for the others.
            await asyncio.wait_for(asyncio.shield(fetch), self._fetch_deadline - now)
        except (OSError, ValueError, jwt.PyJWTError) as exc:  # TimeoutError is an OSError
            # The client reports a key id its fresh set lacks as a PyJWKClientError too: the caller says 401.
            if type(exc) is jwt.PyJWKClientError and self._cache.get() is not None:
                return
            self._failed_at = time.monotonic()
            log.warning("cannot fetch the token signing keys: %s", exc or "no answer in time")
            raise BackendUnavailable("the token signing keys cannot be fetched") from exc


def _retrieve_outcome(fetch: asyncio.Task[jwt.PyJWK]) -> None:
    # A fetch nobody waits for any more must not be reported as an error never retrieved.
    if not fetch.cancelled():
        fetch.exception()
