"""Every route, fuzzed from the service's own OpenAPI document: no 5xx, every answer as documented.

schemathesis generates valid and invalid requests for each operation and calls the app in process (its
lifespan running in schemathesis's own event loop), against a fresh table holding the lab's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.settings import Settings
from service.http.app import create_app
from service.local.lab_rows import seed
from service.storage.backend import Backend
from tests.support.cognito import UserPool, new_key
from tests.support.helpers import make_settings

pytestmark = pytest.mark.fuzz

# Bounded so the whole module stays well under a minute; raise locally to search harder.
EXAMPLES = 25
# The document states types and lengths; some rules are checked in code only (a plate of dots only,
# no control characters, a cursor this service signed), so a request the document allows may still get the
# documented 422 or 400. Every other check runs, no server error and conformance of every answer included.
EXCLUDED_CHECKS = [positive_data_acceptance]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no example database left in the work tree
    derandomize=True,  # the same examples on every run, so CI is reproducible
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
async def seeded(settings: Settings, table: str) -> str:
    """The fresh table with the lab's two rows, so reads and updates of the documented examples find them."""
    backend = Backend(settings)
    try:
        await seed(await backend.repository())
    finally:
        await backend.aclose()
    return table


class CurrentApp:
    """The ASGI app schemathesis calls: it hands every call, lifespan included, to this test's own app."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None
        self.token = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no app for this test"
        await self.app(scope, receive, send)


current = CurrentApp()


# The document does not depend on the settings; the requests go to each test's own app. schemathesis
# runs that app's lifespan in its own event loop and ends it when the test ends.
schema = schemathesis.openapi.from_dict(create_app(make_settings("http://127.0.0.1:9")).openapi())
schema.app = current
# Unknown query parameters are ignored, as HTTP services do (a browser may add a cache-buster).
schema.config.generation.update(allow_extra_parameters=False)


@schema.auth()
class TechnicianToken:
    """A valid technician's ID token on every request; schemathesis still sends cases without one."""

    def get(self, case: Any, context: Any) -> str:
        return current.token

    def set(self, case: Any, data: str, context: Any) -> None:
        if data:  # the tests of refused credentials send their own Authorization, or none
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def fresh_app(settings: Settings, seeded: str, user_pool: UserPool) -> Iterator[None]:
    current.app = create_app(settings)
    current.token = user_pool.token()
    yield
    current.app = None
    current.token = ""


def _is_technician_route(case: Any) -> bool:
    security: list[dict[str, Any]] = case.operation.definition.raw.get("security", [])
    return any("HTTPBearer" in requirement for requirement in security)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_route_answers_as_documented(case: Any, fresh_app: None) -> None:
    """A technician's requests, valid and invalid: never a 5xx, never an answer the document does not list."""
    response = case.call_and_validate(excluded_checks=EXCLUDED_CHECKS)
    if _is_technician_route(case) and not case.meta.generation.mode.is_negative:
        # The token was sent and accepted: the fuzzing reached the routes themselves.
        assert response.status_code != 401, response.text


@pytest.fixture
def refused_credentials(fresh_app: None, user_pool: UserPool) -> list[str | None]:
    """Authorization headers that must never let anyone in (None: no header at all)."""
    current.token = ""
    return [
        None,
        "",
        "Bearer",
        "Bearer garbage",
        "Bearer a.b.c",
        "Basic dGVjaDpzZWNyZXQ=",
        f"bearer  {user_pool.token(exp=1_000_000)}",  # expired long ago
        f"Bearer {user_pool.token(key=new_key())}",  # signed by a key of no pool
        f"Bearer {user_pool.token(token_use='access')}",
        f"Bearer {user_pool.token(aud='another-client')}",
        f"Bearer {user_pool.token(algorithm='none')}",
        f"Bearer {user_pool.token()}\u0000",
    ]


@schema.include(path_regex=r"^/(requests|vehicles|admin-service-request)").parametrize()
@settings(FUZZ_SETTINGS, max_examples=8)
def test_technician_routes_refuse_every_bad_credential(
    case: Any, refused_credentials: list[str | None]
) -> None:
    """Whatever else a request holds, without a valid technician token the answer is 401 with a challenge."""
    assert _is_technician_route(case)
    for credential in refused_credentials:
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        if credential is not None:
            headers["Authorization"] = credential
        case.headers = headers
        response = case.call()
        if case.method.upper() != case.operation.method.upper():
            # A method the path does not serve is refused by routing before anything is read.
            assert response.status_code == 405, (case.method, response.text)
            continue
        assert response.status_code == 401, (credential, response.text)
        assert response.headers["www-authenticate"][0].startswith("Bearer")
        assert response.json()["code"] == "unauthorized"
