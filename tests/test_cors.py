"""CORS: the website's origin may call the API from a browser; other origins get no grant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from service.settings import Settings
from tests.helpers import api_client

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
    response = await cors_api.options("/service-request", headers=_preflight("https://evil.example", "POST"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_answers_to_the_website_carry_the_grant_and_others_do_not(cors_api: httpx.AsyncClient) -> None:
    mine = await cors_api.get("/service-request", headers={"Origin": WEBSITE})
    theirs = await cors_api.get("/service-request", headers={"Origin": "https://evil.example"})
    assert mine.headers["access-control-allow-origin"] == WEBSITE
    assert "access-control-allow-origin" not in theirs.headers


async def test_wildcard_grants_any_origin_without_credentials(settings: Settings, table: str) -> None:
    async with api_client(settings.model_copy(update={"cors_origins": ["*"]})) as api:
        response = await api.options("/service-request", headers=_preflight("https://anyone.example", "POST"))
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_wildcard_with_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        Settings(dynamodb_mode="aws", dynamodb_endpoint=None, cors_origins="*", cors_allow_credentials=True)


async def test_without_cors_origins_nothing_is_granted(api: httpx.AsyncClient) -> None:
    response = await api.options("/service-request", headers=_preflight(WEBSITE, "GET"))
    assert "access-control-allow-origin" not in response.headers
