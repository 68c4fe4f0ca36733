"""The Host header is the caller's word: no redirect carries it; AUTH_MODE=none answers only local names."""

from __future__ import annotations

import re

import pytest

from service.core.hosts import is_local, relative_location
from service.core.settings import Settings
from service.http.cors import LOCAL_ORIGINS
from tests.support.cognito import UserPool
from tests.support.helpers import FORM, api_client

MADE_UP = "evil.example"


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/requests/", "/requests"),
        ("/requests/active/", "/requests/active"),
        ("/requests/?status=Accepted", "/requests?status=Accepted"),
        ("/service-request/", "/service-request"),
        ("/healthz/", "/healthz"),
    ],
)
async def test_a_trailing_slash_redirect_points_at_a_path_not_at_the_callers_host(
    settings: Settings, table: str, user_pool: UserPool, path: str, location: str
) -> None:
    async with api_client(settings, token=user_pool.token()) as api:
        response = await api.get(path, headers={"Host": MADE_UP})
        assert response.status_code == 307, response.text
        assert response.headers["location"] == location
        followed = await api.get(location)
        assert followed.status_code not in (307, 404, 405), followed.text


@pytest.mark.parametrize(
    ("location", "relative"),
    [
        ("http://evil.example/requests", "/requests"),
        ("https://evil.example:8443/a?b=c#d", "/a?b=c#d"),
        ("http://evil.example//evil.example/x", "/evil.example/x"),
        ("http://evil.example/\\evil.example/x", "/evil.example/x"),
        ("http://evil.example", "/"),
        ("/already/relative", "/already/relative"),
    ],
)
def test_a_location_is_made_a_path_that_no_browser_reads_as_another_host(
    location: str, relative: str
) -> None:
    assert relative_location(location) == relative


LOCAL = ["localhost", "localhost:8000", "LOCALHOST.", "shop.localhost:8000", "127.0.0.1", "127.0.0.1:8000"]
LOCAL += ["127.1.2.3:80", "[::1]", "[::1]:8000"]
NOT_LOCAL = [MADE_UP, f"{MADE_UP}:8000", "localhost.evil.example", "10.0.0.5:8000", "[::2]:8000", "", ":8000"]
NOT_LOCAL += ["[::1", "localhost:80:80", "0.0.0.0:8000"]


@pytest.mark.parametrize("host", LOCAL)
def test_local_host_names(host: str) -> None:
    assert is_local(host)


@pytest.mark.parametrize("host", NOT_LOCAL)
def test_other_host_names(host: str) -> None:
    assert not is_local(host)


@pytest.mark.parametrize("host", LOCAL + NOT_LOCAL)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_pages_on_this_machine_are_those_of_the_local_host_names(scheme: str, host: str) -> None:
    """What AUTH_MODE=none grants by default (service.http.cors) is what it answers (service.core.hosts)."""
    assert (re.fullmatch(LOCAL_ORIGINS, f"{scheme}://{host}") is not None) == is_local(host)


@pytest.fixture
def open_door(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth_mode": "none"})


async def test_without_token_checks_a_page_that_resolves_its_own_name_to_this_machine_gets_nothing(
    open_door: Settings, table: str
) -> None:
    """DNS rebinding: the browser sends the page's own name as Host; AUTH_MODE=none answers 421."""
    async with api_client(open_door) as api:
        for host in (MADE_UP, f"{MADE_UP}:8000", "192.168.1.20:8000"):
            answers = [
                await api.get("/admin-service-request", headers={"Host": host}),
                await api.get("/service-request", headers={"Host": host}),
                await api.post("/service-request", json=FORM, headers={"Host": host}),
                await api.options(
                    "/admin-service-request/1",
                    headers={
                        "Host": host,
                        "Origin": f"http://{host}",
                        "Access-Control-Request-Method": "PUT",
                    },
                ),
            ]
            for response in answers:
                assert response.status_code == 421, (host, response.text)
                assert response.json()["code"] == "misdirected_request"
        assert (await api.get("/service-request")).json() == []
        for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "shop.localhost"):
            assert (await api.get("/admin-service-request", headers={"Host": host})).status_code == 200


async def test_with_token_checks_any_host_is_answered(settings: Settings, table: str) -> None:
    async with api_client(settings) as api:
        response = await api.get("/service-request", headers={"Host": MADE_UP})
    assert response.status_code == 200


async def test_without_token_checks_the_names_in_allowed_hosts_are_answered_too(
    open_door: Settings, table: str
) -> None:
    """A demo on the local network: the machine's address and a compose service's name, nothing else."""
    demo = open_door.model_copy(update={"allowed_hosts": ["192.168.1.20", "api"]})
    async with api_client(demo) as api:
        for host in ("192.168.1.20:8000", "192.168.1.20", "API:8000", "api."):
            answered = await api.get("/admin-service-request", headers={"Host": host})
            assert answered.status_code == 200, (host, answered.text)
        for host in ("192.168.1.21:8000", MADE_UP, "api.evil.example", "192.168.1.20.evil.example"):
            refused = await api.get("/admin-service-request", headers={"Host": host})
            assert refused.status_code == 421, host


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ("192.168.1.20", ["192.168.1.20"]),
        (" 192.168.1.20:8000 , api ,, ", ["192.168.1.20", "api"]),
        ("[fe80::1]:8000,Shop.Local.", ["fe80::1", "shop.local"]),
    ],
)
def test_allowed_hosts_are_read_as_host_names(given: str, names: list[str]) -> None:
    settings = Settings(dynamodb_mode="embedded", allowed_hosts=given)
    assert settings.allowed_hosts == names


def test_allowed_hosts_refuses_what_is_no_host() -> None:
    with pytest.raises(ValueError, match="ALLOWED_HOSTS"):
        Settings(dynamodb_mode="embedded", allowed_hosts="http://192.168.1.20/")
