"""The user pool's signing keys: the whole published set, replaced as a whole when it is fetched again, and
fetched by one call at a time however many requests need it."""

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
    the whole set. While a fetch runs, every request that needs the keys waits for that same fetch, and
    for at most `timeout` seconds from its start.
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
        # PyJWT fetches (a plain GET that follows no redirects) and parses; the caching is done here.
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=timeout)
        self._algorithms = frozenset(algorithms)
        self._lifetime = lifetime
        self._cooldown = cooldown
        self._timeout = timeout
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = -math.inf  # when the fetch that gave the set started
        self._tried_at = -math.inf  # when the last fetch started, whatever came of it
        self._fetch: asyncio.Task[None] | None = None
        self._fetch_deadline = -math.inf

    async def key(self, kid: str) -> jwt.PyJWK:
        """The signing key with id `kid`; Unauthorized when the pool has none, BackendUnavailable when the
        set cannot be fetched."""
        now = time.monotonic()
        expired = self._keys is None or now - self._fetched_at >= self._lifetime
        unknown = self._keys is not None and kid not in self._keys
        if expired or (unknown and now - self._tried_at >= self._cooldown):
            await self._refresh()
        key = (self._keys or {}).get(kid)
        if key is None:
            raise Unauthorized("the token is not signed by a key of this user pool", invalid=True)
        return key

    async def _refresh(self) -> None:
        """Join the fetch that is running, or start one; wait for it until its deadline at most."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        fetch = self._fetch
        if fetch is None or fetch.done() or now >= self._fetch_deadline or fetch.get_loop() is not loop:
            # A fetch past its deadline is left to end by itself: its thread cannot be stopped, and a set
            # it brings late never replaces a newer one.
            self._tried_at = now
            self._fetch_deadline = now + self._timeout
            fetch = self._fetch = loop.create_task(self._fetch_keys(started=now))
            fetch.add_done_callback(_retrieve_outcome)
        try:
            # Shielded: a request that stops waiting leaves the fetch running for the others.
            await asyncio.wait_for(asyncio.shield(fetch), self._fetch_deadline - now)
        except (OSError, ValueError, jwt.PyJWTError) as exc:  # TimeoutError is an OSError
            log.warning("cannot fetch the token signing keys: %s", exc or "no answer in time")
            raise BackendUnavailable("the token signing keys cannot be fetched") from exc

    async def _fetch_keys(self, *, started: float) -> None:
        # urllib is synchronous; its timeout bounds each connect and read, the deadline the whole fetch.
        key_set = await run_in_threadpool(self._client.get_jwk_set)
        if started >= self._fetched_at:
            # Only keys that verify the algorithms accepted: an HMAC key under a token's key id would
            # otherwise reach the RSA verifier.
            self._keys = {
                key.key_id: key
                for key in key_set.keys
                if key.key_id
                and key.public_key_use in ("sig", None)
                and key.algorithm_name in self._algorithms
            }
            self._fetched_at = started


def _retrieve_outcome(fetch: asyncio.Task[None]) -> None:
    # A fetch nobody waits for any more must not be reported as an error never retrieved.
    if not fetch.cancelled():
        fetch.exception()
