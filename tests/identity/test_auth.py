"""Technician-only routes: Cognito ID tokens checked (jwt), authorizer claims trusted (gateway), or none."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization

from service.core.settings import Settings
from service.http.app import create_app
from tests.support.cognito import UserPool, new_key
from tests.support.helpers import FORM, api_client, make_settings

PUBLIC = {("GET", "/service-request"), ("POST", "/service-request"), ("GET", "/healthz"), ("GET", "/readyz")}
SAMPLE_PATH_VALUES = {"license_plate": "8B1111", "service_id": "1"}


def _routes(settings: Settings) -> list[tuple[str, str]]:
    paths = create_app(settings).openapi()["paths"]
    return sorted(
        (method.upper(), path.format(**SAMPLE_PATH_VALUES)) for path, ops in paths.items() for method in ops
    )


def _assert_refused(response: httpx.Response, *, invalid: bool) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) is invalid


async def test_every_route_but_the_public_ones_needs_a_technician(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    routes = _routes(settings)
    protected = [r for r in routes if r not in PUBLIC]
    assert {p for _, p in protected} >= {
        "/requests",
        "/requests/active",
        "/requests/8B1111/1",
        "/vehicles/8B1111/requests",
        "/admin-service-request",
        "/admin-service-request/1",
        "/admin-service-request/vehicle-history/8B1111",
    }
    for method, path in protected:
        response = await api.request(method, path, headers={"Authorization": ""}, json={})
        _assert_refused(response, invalid=False)
    for method, path in sorted(PUBLIC):
        response = await api.request(method, path, headers={"Authorization": ""}, json={})
        assert response.status_code != 401, (method, path)


async def test_technicians_answers_are_never_stored_by_a_cache(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    """Whole items carry customers' phone numbers: every answer of a technicians' route, success or
    refusal, says `Cache-Control: no-store`; the public routes' answers do not."""
    statuses = set()
    for method, path in _routes(settings):
        for headers in ({}, {"Authorization": ""}):
            response = await api.request(method, path, headers=headers, json=FORM)
            statuses.add(response.status_code)
            if (method, path) in PUBLIC:
                assert "cache-control" not in response.headers, (method, path)
            else:
                assert response.headers["cache-control"] == "no-store", (method, path, response.status_code)
    assert {200, 201, 401, 404, 422} <= statuses


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = jwt.utils.base64url_decode(payload)
    forged = jwt.utils.base64url_encode(claims.replace(b'"tech"', b'"boss"')).decode()
    return f"{header}.{forged}.{signature}"


def _hs256_with_public_key(pool: UserPool) -> str:
    """The algorithm-confusion attack: an HMAC token whose secret is the pool's public key."""
    public_pem = pool.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": pool.kid}
    claims = jwt.decode(pool.token(), options={"verify_signature": False})
    signing_input = b".".join(
        jwt.utils.base64url_encode(json.dumps(part).encode()) for part in (header, claims)
    )
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()


BAD_TOKENS: dict[str, Any] = {
    "expired": lambda pool: pool.token(exp=int(time.time()) - 120, iat=int(time.time()) - 3720),
    "wrong key": lambda pool: pool.token(key=new_key()),
    "unknown key id": lambda pool: pool.token(kid="someone-elses-key"),
    "tampered payload": lambda pool: _tampered(pool.token()),
    "wrong issuer": lambda pool: pool.token(
        iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"
    ),
    "wrong audience": lambda pool: pool.token(aud="another-app"),
    "access token": lambda pool: pool.token(token_use="access"),
    "no token_use": lambda pool: pool.token(token_use=None),
    "no expiry": lambda pool: pool.token(exp=None),
    "alg none": lambda pool: pool.token(algorithm="none"),
    "alg HS256 keyed with the public key": lambda pool: _hs256_with_public_key(pool),
    "garbage": lambda pool: "not.a.jwt",
    "empty segments": lambda pool: "..",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_bad_tokens_are_401_never_500(api: httpx.AsyncClient, user_pool: UserPool, case: str) -> None:
    token = BAD_TOKENS[case](user_pool)
    for method, path in (("GET", "/admin-service-request"), ("GET", "/requests/active")):
        response = await api.request(method, path, headers={"Authorization": f"Bearer {token}"})
        _assert_refused(response, invalid=True)


@pytest.mark.parametrize("header", ["Basic dGVjaDpwdw==", "Bearer", "Bearer    ", "token abc"])
async def test_other_authorization_schemes_are_401(api: httpx.AsyncClient, header: str) -> None:
    _assert_refused(await api.get("/admin-service-request", headers={"Authorization": header}), invalid=False)


async def test_a_valid_id_token_is_accepted_and_the_key_set_is_fetched_once(
    settings: Settings, table: str, user_pool: UserPool
) -> None:
    before = user_pool.jwks_requests
    async with api_client(settings, token=user_pool.token()) as api:
        for _ in range(5):
            assert (await api.get("/admin-service-request")).status_code == 200
    assert user_pool.jwks_requests - before == 1


async def test_unreachable_signing_keys_are_503_not_500(dynamodb_endpoint: str, user_pool: UserPool) -> None:
    settings = make_settings(
        dynamodb_endpoint,
        auth_mode="jwt",
        cognito_user_pool_id="us-east-1_TestPool1",
        cognito_client_id="website-client-id",
        jwks_url="http://127.0.0.1:9/jwks.json",
    )
    async with api_client(settings, token=user_pool.token()) as api:
        response = await api.get("/admin-service-request")
    assert response.status_code == 503
    assert response.json()["code"] == "backend_unavailable"


def test_jwt_mode_without_pool_settings_refuses_to_start(dynamodb_endpoint: str) -> None:
    with pytest.raises(ValueError, match="COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID"):
        create_app(make_settings(dynamodb_endpoint, auth_mode="jwt"))


def _event_with_claims(claims: dict[str, Any] | None, *, http_api: bool = False) -> dict[str, Any]:
    authorizer: dict[str, Any] = {}
    if claims is not None:
        authorizer = {"jwt": {"claims": claims, "scopes": None}} if http_api else {"claims": claims}
    return {"requestContext": {"authorizer": authorizer}}


class _InjectEvent:
    """Puts a Lambda event into the ASGI scope under `aws.event`, where Mangum puts it."""

    def __init__(self, app: Any, event: dict[str, Any]) -> None:
        self.app = app
        self.event = event

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await self.app({**scope, "aws.event": self.event}, receive, send)


async def _gateway_client(settings: Settings, event: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=_InjectEvent(app, event)), base_url="http://t"
        ) as client,
    ):
        yield client


@pytest.mark.parametrize("http_api", [False, True], ids=["REST API v1", "HTTP API v2"])
async def test_gateway_mode_trusts_the_authorizers_claims(
    dynamodb_endpoint: str, table: str, settings: Settings, http_api: bool
) -> None:
    gateway = settings.model_copy(update={"auth_mode": "gateway"})
    claims = {"sub": "4f1c2b9e", "token_use": "id", "cognito:username": "tech"}
    async for api in _gateway_client(gateway, _event_with_claims(claims, http_api=http_api)):
        assert (await api.get("/admin-service-request")).status_code == 200


@pytest.mark.parametrize(
    "claims", [None, {}, {"email": "no-sub@example.com"}], ids=["none", "empty", "no sub"]
)
async def test_gateway_mode_refuses_requests_without_claims(
    table: str, settings: Settings, user_pool: UserPool, claims: dict[str, Any] | None
) -> None:
    gateway = settings.model_copy(update={"auth_mode": "gateway"})
    async for api in _gateway_client(gateway, _event_with_claims(claims)):
        # A token alone proves nothing in this mode: API Gateway is what checks tokens.
        response = await api.get(
            "/admin-service-request", headers={"Authorization": f"Bearer {user_pool.token()}"}
        )
        _assert_refused(response, invalid=False)
        assert (await api.get("/service-request")).status_code == 200


async def test_none_mode_lets_everyone_in_and_warns_at_start(
    settings: Settings, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    open_settings = settings.model_copy(update={"auth_mode": "none"})
    async with api_client(open_settings) as api:
        assert (await api.get("/admin-service-request")).status_code == 200
    assert "AUTH_MODE=none" in caplog.text


# TECHNICIAN_GROUP: technicians are one group of the pool, and other users are customers.
GROUP = "technicians"
GROUPS = "cognito:groups"


def _assert_not_a_technician(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert set(response.json()) == {"code", "message", "fields"}
    assert response.json()["code"] == "not_a_technician"
    assert response.headers["cache-control"] == "no-store"


def _token_of(pool: UserPool, *groups: str, **claims: Any) -> str:
    """An ID token of a user in `groups`."""
    return pool.token(**{**claims, GROUPS: list(groups)})


@pytest.fixture
def grouped(settings: Settings) -> Settings:
    return settings.model_copy(update={"technician_group": GROUP})


async def test_with_a_technician_group_only_its_members_tokens_are_technicians(
    grouped: Settings, table: str, user_pool: UserPool
) -> None:
    members = [_token_of(user_pool, GROUP), _token_of(user_pool, "customers", GROUP)]
    others = {
        "another group": _token_of(user_pool, "customers"),
        "no group": user_pool.token(),
        "no groups at all": _token_of(user_pool),
        "a group named alike": _token_of(user_pool, f"{GROUP}-trainees", GROUP.upper()),
    }
    async with api_client(grouped) as api:
        for token in members:
            bearer = {"Authorization": f"Bearer {token}"}
            assert (await api.get("/admin-service-request", headers=bearer)).status_code == 200
            assert (await api.get("/requests/active", headers=bearer)).status_code == 200
        for token in others.values():
            bearer = {"Authorization": f"Bearer {token}"}
            for method, path in _routes(grouped):
                if (method, path) not in PUBLIC:
                    response = await api.request(method, path, headers=bearer, json=FORM)
                    _assert_not_a_technician(response)
            # Before saying what is wrong with a body, the route says who may send one.
            broken = await api.post("/requests", headers={**bearer, "Content-Type": "application/json"})
            _assert_not_a_technician(broken)
        # A token that does not check out is still a 401, whatever its groups.
        forged = {"Authorization": f"Bearer {_token_of(user_pool, GROUP, key=new_key())}"}
        _assert_refused(await api.get("/admin-service-request", headers=forged), invalid=True)


async def test_without_a_technician_group_every_user_of_the_pool_is_a_technician(
    settings: Settings, table: str, user_pool: UserPool
) -> None:
    assert settings.technician_group is None
    async with api_client(settings, token=_token_of(user_pool, "customers")) as api:
        assert (await api.get("/admin-service-request")).status_code == 200


async def test_with_a_technician_group_other_users_are_anonymous_customers_on_the_public_form(
    grouped: Settings, table: str, user_pool: UserPool
) -> None:
    """Their valid tokens neither refuse their forms nor lift the limit on anonymous forms."""
    limited = grouped.model_copy(update={"public_create_limit": 2})
    customer = {"Authorization": f"Bearer {_token_of(user_pool, 'customers')}"}
    technician = {"Authorization": f"Bearer {_token_of(user_pool, GROUP)}"}
    async with api_client(limited) as api:
        answers = [
            await api.post("/service-request", headers=customer, json={**FORM, "service_description": f"{n}"})
            for n in range(3)
        ]
        assert [a.status_code for a in answers] == [201, 201, 429]
        assert answers[-1].json()["code"] == "too_many_requests"
        more = [
            await api.post(
                "/service-request", headers=technician, json={**FORM, "service_description": f"t{n}"}
            )
            for n in range(3)
        ]
        assert [a.status_code for a in more] == [201, 201, 201]


# The shapes `cognito:groups` takes: a list in an ID token, a string in the claims API Gateway passes on.
MEMBER_CLAIMS: dict[str, Any] = {
    "list": [GROUP],
    "one group": GROUP,
    "REST API, several": f"customers,{GROUP}",
    "REST API, spaced": f"customers, {GROUP}",
    "HTTP API, several": f"[customers {GROUP}]",
    "HTTP API, one": f"[{GROUP}]",
    "JSON text": json.dumps(["customers", GROUP]),
}
OTHER_CLAIMS: dict[str, Any] = {
    "missing": None,
    "empty": "",
    "empty list": [],
    "HTTP API, empty": "[]",
    "another group": "customers",
    "REST API, others": "customers,trainees",
    "HTTP API, others": "[customers trainees]",
    "a longer name": f"{GROUP}-trainees",
    "inside a name": f"[senior-{GROUP}]",
    "not text": 7,
}


@pytest.mark.parametrize(
    ("case", "member"), [*((c, True) for c in MEMBER_CLAIMS), *((c, False) for c in OTHER_CLAIMS)]
)
async def test_gateway_mode_reads_the_authorizers_groups_in_every_shape(
    table: str, settings: Settings, case: str, member: bool
) -> None:
    value = (MEMBER_CLAIMS if member else OTHER_CLAIMS)[case]
    claims = {"sub": "4f1c2b9e", "token_use": "id", **({} if value is None else {GROUPS: value})}
    gateway = settings.model_copy(update={"auth_mode": "gateway", "technician_group": GROUP})
    for http_api in (False, True):
        async for api in _gateway_client(gateway, _event_with_claims(claims, http_api=http_api)):
            response = await api.get("/admin-service-request")
            if member:
                assert response.status_code == 200, response.text
            else:
                _assert_not_a_technician(response)


@pytest.mark.parametrize("name", ["techs,admins", "[techs]", "tech nicians"])
def test_a_technician_group_that_claims_cannot_name_alone_is_refused_at_start(
    dynamodb_endpoint: str, name: str
) -> None:
    with pytest.raises(ValueError, match="technician_group"):
        make_settings(dynamodb_endpoint, technician_group=name)


def test_an_empty_technician_group_variable_is_no_group(
    dynamodb_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the template passes an empty parameter on."""
    monkeypatch.setenv("TECHNICIAN_GROUP", "")
    assert make_settings(dynamodb_endpoint).technician_group is None
    monkeypatch.setenv("TECHNICIAN_GROUP", GROUP)
    assert make_settings(dynamodb_endpoint).technician_group == GROUP
