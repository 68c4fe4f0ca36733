"""The user pool's signing keys (AUTH_MODE=jwt): a key the pool drops stops being trusted within
JWKS_CACHE_SECONDS, a new key id fetches the whole set again at most once per cooldown, and while the pool's
endpoint hangs one fetch runs for every request that waits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import pytest

from service.core.errors import Unauthorized
from service.core.settings import Settings
from service.identity.cognito import ALGORITHMS
from service.identity.jwks import SigningKeys
from tests.support.cognito import UserPool, serve_user_pool
from tests.support.helpers import api_client
from tests.support.servers import Answer, Request, json_server

# A technician's read that needs one GetItem: 404 once the token is accepted, 401 when it is not.
PATH = "/requests/8B1111/1"
ACCEPTED, REFUSED = 404, 401


@pytest.fixture
def pool() -> Iterator[UserPool]:
    """A pool of this test's own, whose keys it may rotate."""
    with serve_user_pool() as pool:
        yield pool


def _settings(settings: Settings, pool: UserPool, **seconds: float) -> Settings:
    return settings.model_copy(update={"jwks_url": pool.jwks_url, **seconds})


async def _status(api: httpx.AsyncClient, token: str) -> int:
    return (await api.get(PATH, headers={"Authorization": f"Bearer {token}"})).status_code


async def test_a_key_the_pool_dropped_is_refused_once_the_set_has_expired(
    settings: Settings, table: str, pool: UserPool
) -> None:
    lifetime = 1.0
    async with api_client(_settings(settings, pool, jwks_cache_seconds=lifetime)) as api:
        old = pool.token()
        assert await _status(api, old) == ACCEPTED
        pool.rotate("test-key-2")
        new = pool.token()
        await asyncio.sleep(lifetime + 0.2)
        assert await _status(api, old) == REFUSED
        assert await _status(api, new) == ACCEPTED
    assert pool.jwks_requests == 2


async def test_a_new_key_id_fetches_the_whole_set_again_at_most_once_per_cooldown(
    settings: Settings, table: str, pool: UserPool
) -> None:
    cooldown = 1.0
    async with api_client(_settings(settings, pool, jwks_refetch_cooldown_seconds=cooldown)) as api:
        old = pool.token()
        assert await _status(api, old) == ACCEPTED
        pool.rotate("test-key-2")
        new = pool.token()
        # Within the cooldown of the first fetch, neither the new key id nor made-up ones fetch the set.
        made_up = [pool.token(kid=str(uuid.uuid4())) for _ in range(20)]
        assert [await _status(api, token) for token in [new, *made_up]] == [REFUSED] * 21
        assert pool.jwks_requests == 1
        await asyncio.sleep(cooldown + 0.2)
        assert await _status(api, new) == ACCEPTED
        # The set fetched for the new key replaced the old one entirely, well before it would expire.
        assert await _status(api, old) == REFUSED
        assert [await _status(api, token) for token in made_up] == [REFUSED] * 20
    assert pool.jwks_requests == 2


async def test_while_the_pool_hangs_one_fetch_serves_every_waiting_request(
    settings: Settings, table: str, pool: UserPool
) -> None:
    timeout = 1.0
    async with api_client(_settings(settings, pool, jwks_timeout_seconds=timeout)) as api:
        token = pool.token()
        with pool.hanging():
            started = time.monotonic()
            answers = await asyncio.gather(
                *(api.get(PATH, headers={"Authorization": f"Bearer {token}"}) for _ in range(10))
            )
            elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [503] * 10
        assert {a.json()["code"] for a in answers} == {"backend_unavailable"}
        # One fetch, waited for together: not ten fetches in a row of `timeout` each.
        assert pool.jwks_requests == 1
        assert elapsed < 2.5 * timeout, elapsed
        # Once the pool answers again, the next request fetches the keys and is let in.
        assert await _status(api, token) == ACCEPTED
    assert pool.jwks_requests == 2


async def test_while_the_pool_fails_made_up_key_ids_fetch_at_most_once_per_cooldown(
    settings: Settings, table: str, pool: UserPool
) -> None:
    """A fetch that failed holds off the next one for an unknown key id as a fetch that succeeded does, and
    the set already fetched keeps letting technicians in."""
    cooldown, timeout = 1.0, 0.5
    seconds = {"jwks_refetch_cooldown_seconds": cooldown, "jwks_timeout_seconds": timeout}
    async with api_client(_settings(settings, pool, **seconds)) as api:
        known = pool.token()
        assert await _status(api, known) == ACCEPTED
        await asyncio.sleep(cooldown + 0.2)
        made_up = [pool.token(kid=str(uuid.uuid4())) for _ in range(6)]
        with pool.hanging():
            assert [await _status(api, token) for token in made_up] == [503] + [REFUSED] * 5
            assert await _status(api, known) == ACCEPTED
            assert pool.jwks_requests == 2
        await asyncio.sleep(cooldown + 0.2)
        pool.rotate("test-key-2")
        assert await _status(api, pool.token()) == ACCEPTED
    assert pool.jwks_requests == 3


async def test_a_published_key_of_another_kind_under_the_tokens_key_id_is_refused_not_a_500(
    settings: Settings, table: str, pool: UserPool
) -> None:
    """A key set may hold keys for other algorithms (an HMAC secret, here, under the key id the token names):
    they verify no token of this service, whatever its header says."""
    shared = b"a secret that no one shares, 32+ bytes"
    secret = {"kty": "oct", "k": jwt.utils.base64url_encode(shared).decode(), "kid": pool.kid, "use": "sig"}

    def keys(_: Request) -> Answer:
        return Answer(200, {"keys": [secret]})

    with json_server(keys) as url:
        mixed = settings.model_copy(update={"jwks_url": f"{url}/jwks.json"})
        async with api_client(mixed) as api:
            rs256 = pool.token()
            hs256 = pool.token(algorithm="HS256", key=shared)  # type: ignore[arg-type]
            assert [await _status(api, token) for token in (rs256, hs256)] == [REFUSED, REFUSED]


async def test_only_keys_of_the_accepted_algorithms_reach_the_verifier(pool: UserPool) -> None:
    """The verifier refuses an HMAC secret handed in for RS256 too; the key set never hands it one."""
    shared = jwt.utils.base64url_encode(b"a secret that no one shares, 32+ bytes").decode()
    published = [{"kty": "oct", "k": shared, "kid": "hmac", "use": "sig"}, *pool.jwks()["keys"]]

    def keys(_: Request) -> Answer:
        return Answer(200, {"keys": published})

    with json_server(keys) as url:
        signing = SigningKeys(f"{url}/jwks.json", algorithms=ALGORITHMS, lifetime=60, cooldown=30, timeout=5)
        assert (await signing.key(pool.kid)).algorithm_name == "RS256"
        with pytest.raises(Unauthorized):
            await signing.key("hmac")
