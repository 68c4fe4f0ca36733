"""CORS: any page may use the public form and list; the technicians' routes grant CORS_ORIGINS, which
defaults to any origin with a local DynamoDB and to none on AWS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service.cli import main
from service.settings import Settings
from tests.helpers import api_client, make_settings

WEBSITE = "https://quick-oil.example"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.fixture
async def cors_api(settings: Settings, table: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(
        settings.model_copy(update={"cors_origins": [WEBSITE, "http://localhost:5173"]})
    ) as api:
        yield api


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


async def test_preflight_from_another_origin_gets_no_grant(cors_api: httpx.AsyncClient) -> None:
    response = await cors_api.options(
        "/admin-service-request/1", headers=_preflight("https://evil.example", "PUT")
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


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
    ("mode", "endpoint", "origins"),
    [("embedded", None, ["*"]), ("endpoint", "http://127.0.0.1:8001", ["*"]), ("aws", None, [])],
)
def test_cors_origins_default_to_any_origin_locally_and_to_none_on_aws(
    mode: str, endpoint: str | None, origins: list[str]
) -> None:
    settings = Settings(dynamodb_mode=mode, dynamodb_endpoint=endpoint)
    assert settings.technician_origins == origins
    chosen = Settings(dynamodb_mode=mode, dynamodb_endpoint=endpoint, cors_origins=WEBSITE)
    assert chosen.technician_origins == [WEBSITE]


async def test_with_a_local_dynamodb_and_no_setting_any_origin_may_call_the_technicians_routes(
    settings: Settings, table: str
) -> None:
    unset = make_settings(
        settings.dynamodb_endpoint or "",
        table_name=settings.table_name,
        idempotency_table_name=settings.idempotency_table_name,
        cors_origins=None,
    )
    async with api_client(unset) as api:
        response = await api.options(
            "/admin-service-request/1", headers=_preflight("https://anyone.example", "PUT")
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
