"""CORS: any page may use the public form and list; the technicians' routes grant CORS_ORIGINS, which
defaults to the pages on this machine with AUTH_MODE=none, else to any origin with a local DynamoDB and to
none on AWS; a request from a page they do not grant reaches none of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from service.cli import main
from service.core.settings import Settings
from tests.support.cognito import UserPool
from tests.support.helpers import api_client, create, make_settings, new_request

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

WEBSITE = "https://quick-oil.example"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.fixture
async def cors_api(settings: Settings, table: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(
        settings.model_copy(update={"cors_origins": [WEBSITE, "http://localhost:5173"]})
    ) as api:
        yield api


def _unset(settings: Settings, **overrides: Any) -> Settings:
    """`settings` (its table, its user pool) with CORS_ORIGINS unset and resolved as at start."""
    fields = ("table_name", "idempotency_table_name", "cognito_user_pool_id", "cognito_client_id", "jwks_url")
    values = {name: getattr(settings, name) for name in fields}
    return make_settings(settings.dynamodb_endpoint or "", **{**values, "cors_origins": None, **overrides})


def _preflight(origin: str, method: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,authorization",
    }


@pytest.mark.parametrize("method", METHODS)
async def test_preflight_from_the_website_is_granted(cors_api: httpx.AsyncClient, method: str) -> None:
    response = await cors_api.options("/admin-service-request/1", headers=_preflight(WEBSITE, method))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == WEBSITE
    assert method in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed_headers
    assert "authorization" in allowed_headers
    assert "access-control-allow-credentials" not in response.headers


async def test_preflight_from_another_origin_is_refused(cors_api: httpx.AsyncClient) -> None:
    response = await cors_api.options(
        "/admin-service-request/1", headers=_preflight("https://evil.example", "PUT")
    )
    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers
    # Refused before the route is known, as every refusal: no cache keeps it.
    assert response.headers["cache-control"] == "no-store"


async def test_answers_to_the_website_carry_the_grant_and_others_do_not(cors_api: httpx.AsyncClient) -> None:
    mine = await cors_api.get("/admin-service-request", headers={"Origin": WEBSITE})
    theirs = await cors_api.get("/admin-service-request", headers={"Origin": "https://evil.example"})
    assert mine.headers["access-control-allow-origin"] == WEBSITE
    assert "access-control-allow-origin" not in theirs.headers


async def test_wildcard_grants_any_origin_without_credentials(settings: Settings, table: str) -> None:
    async with api_client(settings.model_copy(update={"cors_origins": ["*"]})) as api:
        response = await api.options("/service-request", headers=_preflight("https://anyone.example", "POST"))
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("origins", ["*", "null", f"{WEBSITE}, null", f"null,{WEBSITE}"])
def test_any_origin_with_credentials_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], origins: str
) -> None:
    """`null` is any page: sandboxed frames, data: URLs and local files all send `Origin: null`."""
    with pytest.raises(ValueError, match="cannot be combined"):
        Settings(
            dynamodb_mode="aws", dynamodb_endpoint=None, cors_origins=origins, cors_allow_credentials=True
        )
    monkeypatch.setenv("DYNAMODB_MODE", "aws")
    monkeypatch.setenv("CORS_ORIGINS", origins)
    monkeypatch.setenv("CORS_ALLOW_CREDENTIALS", "true")
    assert main(["serve"]) == 2
    assert "CORS_ALLOW_CREDENTIALS=true" in capsys.readouterr().err


def test_null_without_credentials_is_an_origin_like_any_other() -> None:
    settings = Settings(dynamodb_mode="aws", dynamodb_endpoint=None, cors_origins=f"{WEBSITE},null")
    assert settings.technician_origins == [WEBSITE, "null"]


async def test_without_cors_origins_technicians_routes_grant_nothing(api: httpx.AsyncClient) -> None:
    response = await api.options("/admin-service-request", headers=_preflight(WEBSITE, "GET"))
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("origins", [[], [WEBSITE]], ids=["none", "allow-list"])
async def test_the_public_routes_grant_any_origin_without_credentials(
    settings: Settings, table: str, origins: list[str], method: str
) -> None:
    update = {"cors_origins": origins, "cors_allow_credentials": bool(origins)}
    async with api_client(settings.model_copy(update=update)) as api:
        preflight = await api.options(
            "/service-request", headers=_preflight("https://anyone.example", method)
        )
        answer = await api.request(
            method,
            "/service-request",
            headers={"Origin": "https://anyone.example"},
            json={"license_plate": "8B1111", "phone_number": "208-444-5555", "service_description": "Oil"},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert method in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert answer.headers["access-control-allow-origin"] == "*"
    for response in (preflight, answer):
        assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    ("mode", "endpoint", "auth", "origins"),
    [
        ("embedded", None, None, None),
        ("embedded", None, "jwt", ["*"]),
        ("endpoint", "http://127.0.0.1:8001", "none", None),
        ("endpoint", "http://127.0.0.1:8001", None, ["*"]),
        ("aws", None, "none", None),
        ("aws", None, None, []),
    ],
)
def test_cors_origins_default_to_this_machine_without_tokens_else_any_origin_locally_and_none_on_aws(
    mode: str, endpoint: str | None, auth: str | None, origins: list[str] | None
) -> None:
    """None: the pages on this machine."""
    settings = Settings(dynamodb_mode=mode, dynamodb_endpoint=endpoint, auth_mode=auth)
    assert settings.technician_origins == origins
    chosen = Settings(dynamodb_mode=mode, dynamodb_endpoint=endpoint, auth_mode=auth, cors_origins=WEBSITE)
    assert chosen.technician_origins == [WEBSITE]


async def test_with_tokens_a_local_dynamodb_and_no_setting_any_origin_may_call_the_technicians_routes(
    settings: Settings, table: str
) -> None:
    unset = _unset(settings, auth_mode="jwt")
    async with api_client(unset) as api:
        response = await api.options(
            "/admin-service-request/1", headers=_preflight("https://anyone.example", "PUT")
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


# Pages on this machine, as browsers write their origins, and pages elsewhere.
THIS_MACHINE = [
    "http://localhost:5173",
    "http://127.0.0.1:8000",
    "http://[::1]:3000",
    "http://shop.localhost",
]
THIS_MACHINE += ["https://localhost", "http://127.1.2.3:8080"]
ELSEWHERE = [
    "http://evil.test:8000",
    WEBSITE,
    "http://localhost.evil.example",
    "http://127.0.0.1.evil.example",
]
ELSEWHERE += ["http://10.0.0.5:8000", "http://0.0.0.0:8000", "http://[::2]:8000", "null", ""]


@pytest.fixture
async def open_door(settings: Settings, table: str) -> AsyncIterator[httpx.AsyncClient]:
    """As `make run` and `docker compose up` serve it: AUTH_MODE=none and no CORS_ORIGINS."""
    async with api_client(_unset(settings, auth_mode="none")) as api:
        yield api


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert (body["code"], body["fields"]) == ("origin_not_allowed", []), body
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-private-network" not in response.headers
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", THIS_MACHINE)
async def test_without_tokens_the_technicians_routes_grant_the_pages_on_this_machine(
    open_door: httpx.AsyncClient, origin: str
) -> None:
    await create(open_door, license_plate="1J1957", service_id="2", service_status="Accepted")
    preflight = await open_door.options("/requests/1J1957/2", headers=_preflight(origin, "DELETE"))
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == origin
    listed = await open_door.get("/requests/active", headers={"Origin": origin})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == origin
    assert [i["service_id"] for i in listed.json()["items"]] == ["2"]


@pytest.mark.parametrize("origin", ELSEWHERE)
async def test_without_tokens_the_technicians_routes_refuse_pages_elsewhere(
    open_door: httpx.AsyncClient, origin: str
) -> None:
    """`null` is any page that sandboxes itself, or a file."""
    _refused(await open_door.options("/requests/1J1957/2", headers=_preflight(origin, "DELETE")))
    _refused(await open_door.get("/requests/active", headers={"Origin": origin}))


async def _table(dynamodb: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    items = (await dynamodb.scan(TableName=table, ConsistentRead=True))["Items"]
    return sorted(items, key=lambda item: (item["license_plate"]["S"], item["service_id"]["S"]))


@pytest.mark.parametrize(
    ("overrides", "origin"),
    [
        ({"auth_mode": "none"}, "http://evil.test:8000"),
        ({"auth_mode": "none"}, "null"),
        ({"auth_mode": "none", "cors_origins": ["http://localhost:5173"]}, "http://localhost:3000"),
        ({"auth_mode": "jwt", "cors_origins": [WEBSITE]}, "https://evil.example"),
        ({"auth_mode": "jwt", "cors_origins": []}, WEBSITE),
    ],
    ids=["none-unset", "none-unset-null", "none-allow-list", "jwt-allow-list", "jwt-no-origins"],
)
async def test_a_page_not_granted_reaches_no_technicians_route_even_without_a_preflight(
    settings: Settings,
    table: str,
    dynamodb: DynamoDBClient,
    user_pool: UserPool,
    overrides: dict[str, Any],
    origin: str,
) -> None:
    """What a browser sends without asking first (GET, a form's POST, text/plain) is refused before any
    route reads or writes; the same requests without an Origin are answered as ever."""
    async with api_client(_unset(settings, **overrides), token=user_pool.token()) as api:
        created = await create(
            api, license_plate="1J1957", phone_number="208-867-5309", service_status="Accepted"
        )
        key = f"/requests/1J1957/{created['service_id']}"
        before = await _table(dynamodb, table)
        page = {"Origin": origin}
        simple = {**page, "Content-Type": "text/plain"}
        answers = [
            await api.get("/requests/active", headers=page),
            await api.get(key, headers=page),
            await api.get("/vehicles/1J1957/requests", headers=page),
            await api.get("/admin-service-request", headers=page),
            await api.get("/admin-service-request/vehicle-history/1J1957", headers=page),
            await api.post("/requests", content=json.dumps(new_request()), headers=simple),
            await api.post("/requests", json=new_request(), headers=page),
            await api.patch(key, json={"service_status": "Completed"}, headers=page),
            await api.put(
                f"/admin-service-request/{created['service_id']}",
                content=json.dumps({"license_plate": "1J1957", "service_status": "Completed"}),
                headers=simple,
            ),
            await api.delete(key, headers=page),
        ]
        for response in answers:
            _refused(response)
            assert "5309" not in response.text
        assert await _table(dynamodb, table) == before
        answered = await api.get("/vehicles/1J1957/requests")
        assert [i["phone_number"] for i in answered.json()["items"]] == ["208-867-5309"]
        assert (await api.delete(key)).status_code == 204


async def test_with_any_origin_granted_no_page_is_refused(settings: Settings, table: str) -> None:
    async with api_client(_unset(settings, auth_mode="none", cors_origins=["*"])) as api:
        await create(api)
        response = await api.get("/requests/active", headers={"Origin": "http://evil.test"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


async def test_null_is_granted_when_cors_origins_names_it(settings: Settings, table: str) -> None:
    async with api_client(_unset(settings, auth_mode="none", cors_origins=[WEBSITE, "null"])) as api:
        response = await api.get("/requests/active", headers={"Origin": "null"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "null"


def _private_network(origin: str, method: str) -> dict[str, str]:
    return {**_preflight(origin, method), "Access-Control-Request-Private-Network": "true"}


@pytest.mark.parametrize(
    ("path", "method", "origin"),
    [
        ("/requests/1J1957/2", "DELETE", "http://localhost:5173"),
        ("/admin-service-request/1", "PUT", "http://127.0.0.1:3000"),
        ("/service-request", "POST", "https://anyone.example"),
        ("/service-request", "GET", "null"),
    ],
)
async def test_private_network_preflights_of_granted_pages_are_granted(
    open_door: httpx.AsyncClient, path: str, method: str, origin: str
) -> None:
    """A page on a public address asks before it calls this machine's service (Private Network Access)."""
    response = await open_door.options(path, headers=_private_network(origin, method))
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-private-network"] == "true"
    assert response.headers["access-control-allow-origin"] in (origin, "*")


async def test_private_network_preflights_of_other_pages_get_no_grant(open_door: httpx.AsyncClient) -> None:
    for path, method in [("/requests/1J1957/2", "DELETE"), ("/admin-service-request", "GET")]:
        _refused(await open_door.options(path, headers=_private_network("http://evil.test", method)))


async def test_private_network_preflights_follow_an_allow_list(cors_api: httpx.AsyncClient) -> None:
    granted = await cors_api.options("/admin-service-request/1", headers=_private_network(WEBSITE, "PUT"))
    assert granted.status_code == 200
    assert granted.headers["access-control-allow-private-network"] == "true"
    _refused(
        await cors_api.options("/admin-service-request/1", headers=_private_network("http://x.test", "PUT"))
    )


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/openapi.json", "/docs", "/redoc", "/docs-assets/swagger-ui.css"]
)
async def test_health_and_docs_answer_any_page_but_grant_only_the_granted(
    open_door: httpx.AsyncClient, path: str
) -> None:
    theirs = await open_door.get(path, headers={"Origin": "http://evil.test"})
    assert theirs.status_code == 200
    assert "access-control-allow-origin" not in theirs.headers
    assert "Origin" in theirs.headers["vary"]
    _refused(await open_door.options(path, headers=_preflight("http://evil.test", "GET")))
    mine = await open_door.get(path, headers={"Origin": "http://localhost:5173"})
    assert mine.status_code == 200
    assert mine.headers["access-control-allow-origin"] == "http://localhost:5173"


@pytest.mark.parametrize("host", ["localhost", "api.quick-oil.example", "127.0.0.1:8000"])
async def test_the_services_own_pages_are_not_cross_origin(
    settings: Settings, table: str, user_pool: UserPool, host: str
) -> None:
    """Its /docs page calls the technicians' routes from the service's own origin, which no allow-list
    names: a browser sends that Origin with every POST, PUT, PATCH and DELETE."""
    async with api_client(
        _unset(settings, auth_mode="jwt", cors_origins=[WEBSITE]), token=user_pool.token()
    ) as api:
        for scheme in ("http", "https"):
            headers = {"Host": host, "Origin": f"{scheme}://{host}"}
            response = await api.post("/requests", json=new_request(), headers=headers)
            assert response.status_code == 201, response.text
            assert "access-control-allow-origin" not in response.headers
