"""Three `serve` instances on one DynamoDB behind haproxy, as ECS runs one to three tasks behind an ALB: a
rolling restart under a steady load loses nothing, and the limits, the repeats, `If-Match` and the public
list's copy hold across the instances."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from service.core.settings import Settings
from tests.support.cognito import CLIENT_ID, POOL_ID, UserPool
from tests.support.process import SERVE_COMMAND, as_run_here
from tests.support.servers import HOST, free_port, stop_process

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

pytestmark = [
    pytest.mark.atomic_writes("If-Match races between instances need atomic conditional writes"),
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs haproxy (apt-get install haproxy)"),
]

INSTANCES = 3
CREATE_LIMIT = 10
CACHE_SECONDS = 2.0
DRAIN_SECONDS = 1.5
# haproxy's health checks of /healthz, as the ALB's target group makes them: every 200 ms, two failures
# take an instance out, two successes put it back.
CHECK = "check inter 200ms fall 2 rise 2"
# Anonymous forms of the steady load come from this many addresses, so none reaches CREATE_LIMIT.
LOAD_ADDRESSES = 120
WORKERS = 4
# Each worker's pause between calls: a steady load, not a saturating one, on a machine of two cores.
PAUSE_SECONDS = 0.02


@dataclass
class Instance:
    """One `python -m service serve`, restartable on its port."""

    name: str
    port: int
    environment: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                as_run_here(SERVE_COMMAND),
                env={**self.environment, "PORT": str(self.port)},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not become ready")

    def terminate(self) -> int:
        """SIGTERM, as ECS or a rolling deployment sends it; the exit status once it has stopped."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@dataclass
class Tally:
    """What the client saw: each answer's status by the instance that gave it, and failures."""

    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)  # form description -> status answered

    def record(self, response: httpx.Response) -> None:
        self.answers[(response.headers.get("X-Served-By", "haproxy"), response.status_code)] += 1

    @property
    def sent(self) -> int:
        return sum(self.answers.values()) + len(self.failures)

    def per_instance(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for (server, _), count in self.answers.items():
            counts[server] += count
        return dict(sorted(counts.items()))


def _haproxy_config(port: int, instances: list[Instance]) -> str:
    servers = "\n".join(f"    server {i.name} {HOST}:{i.port} {CHECK}" for i in instances)
    return f"""global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    retries 3
    option redispatch
    # A connection to an instance per request: an instance that stops closes no kept-alive connection
    # under a request haproxy has just sent on it.
    option http-server-close
frontend website
    bind {HOST}:{port}
    default_backend service
backend service
    balance roundrobin
    option forwardfor
    option httpchk GET /healthz
    http-check expect status 200
    http-response set-header X-Served-By %s
{servers}
"""


@contextmanager
def _haproxy(config: Path) -> Iterator[None]:
    process = subprocess.Popen(  # noqa: S603 - Debian's haproxy, our own configuration
        ["haproxy", "-db", "-f", str(config)],  # noqa: S607 - from PATH, as Debian installs it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        stop_process(process)


@pytest.fixture
def instances(
    settings: Settings, table: str, user_pool: UserPool, tmp_path: Path
) -> Iterator[list[Instance]]:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_DYNAMODB": settings.dynamodb_endpoint or "",
        "AWS_REGION": settings.aws_region,
        "TABLE_NAME": settings.table_name,
        "IDEMPOTENCY_TABLE_NAME": settings.idempotency_table_name,
        "AUTH_MODE": "jwt",
        "COGNITO_USER_POOL_ID": POOL_ID,
        "COGNITO_CLIENT_ID": CLIENT_ID,
        "JWKS_URL": user_pool.jwks_url,
        "CURSOR_SECRET": "one-secret-for-every-instance",
        "FORWARDED_ALLOW_IPS": HOST,  # haproxy, the only forwarder
        "PUBLIC_CREATE_LIMIT": str(CREATE_LIMIT),
        "PUBLIC_LIST_CACHE_SECONDS": str(CACHE_SECONDS),
        "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "LOG_LEVEL": "WARNING",
    }
    started = [
        Instance(f"s{n}", free_port(), environment, tmp_path / f"s{n}.log") for n in range(1, INSTANCES + 1)
    ]
    try:
        for instance in started:
            instance.start()
        yield started
    finally:
        for instance in started:
            if instance.process is not None:
                stop_process(instance.process)


@pytest.fixture
def balancer(instances: list[Instance], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(_haproxy_config(port, instances))
    url = f"http://{HOST}:{port}"
    with _haproxy(config):
        _wait_until_every_instance_answers(url, instances)
        yield url


def _wait_until_every_instance_answers(url: str, instances: list[Instance]) -> None:
    """Until round-robin has reached each instance, i.e. haproxy counts all of them up."""
    names = {i.name for i in instances}
    deadline = time.monotonic() + 30
    seen: set[str] = set()
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/healthz", timeout=2)
            seen.add(response.headers.get("X-Served-By", ""))
            if names <= seen:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"haproxy reached only {sorted(seen)}")


@contextmanager
def _clients_from(url: str, addresses: list[str], **options: Any) -> Iterator[list[httpx.AsyncClient]]:
    """An async client per source address of 127.0.0.0/8, each a different customer to the load balancer."""
    clients = [
        httpx.AsyncClient(
            base_url=url, transport=httpx.AsyncHTTPTransport(local_address=address), timeout=30, **options
        )
        for address in addresses
    ]
    yield clients


async def _closed(clients: list[httpx.AsyncClient]) -> None:
    await asyncio.gather(*(client.aclose() for client in clients))


@pytest.fixture
async def technician(balancer: str, user_pool: UserPool) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {user_pool.token()}"}
    async with httpx.AsyncClient(base_url=balancer, headers=headers, timeout=30) as client:
        yield client


async def _load(
    balancer: str, technician: httpx.AsyncClient, stop: asyncio.Event, tally: Tally, plate: str
) -> None:
    """A steady mix of the website's and the technicians' calls until `stop` is set."""
    addresses = [f"127.0.1.{n}" for n in range(1, LOAD_ADDRESSES + 1)]
    created = (await technician.post("/requests", json=_form(plate, "kept busy"))).json()
    item = f"/requests/{created['license_plate']}/{created['service_id']}"
    counter = itertools.count()
    statuses = itertools.cycle(["Accepted", "Being Serviced", "Waiting for Parts"])

    async def call(client: httpx.AsyncClient, method: str, path: str, **options: Any) -> None:
        try:
            response = await client.request(method, path, **options)
        except httpx.TransportError as exc:
            tally.failures.append(f"{method} {path}: {exc!r}")
            return
        tally.record(response)
        if method == "POST" and "json" in options:
            tally.stored[options["json"]["service_description"]] = response.status_code

    with _clients_from(balancer, addresses) as customers:
        try:

            async def worker() -> None:
                while not stop.is_set():
                    n = next(counter)
                    # Each anonymous form (one call in six) from the next address in turn.
                    customer = customers[(n // 6) % len(customers)]
                    match n % 6:
                        case 0:
                            await call(customer, "GET", "/service-request")
                        case 1:
                            await call(customer, "POST", "/service-request", json=_form(plate, f"form {n}"))
                        case 2:
                            await call(technician, "GET", "/requests/active")
                        case 3:
                            await call(technician, "POST", "/requests", json=_form(plate, f"request {n}"))
                        case 4:
                            await call(technician, "GET", item)
                        case _:
                            await call(technician, "PATCH", item, json={"service_status": next(statuses)})
                    await asyncio.sleep(PAUSE_SECONDS)

            await asyncio.gather(*(worker() for _ in range(WORKERS)))
        finally:
            await _closed(customers)


def _form(plate: str, description: str) -> dict[str, str]:
    return {"license_plate": plate, "phone_number": "208-555-0142", "service_description": description}


async def _descriptions(dynamodb: DynamoDBClient, table: str, plate: str) -> Counter[str]:
    found: Counter[str] = Counter()
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="license_plate = :p",
        ExpressionAttributeValues={":p": {"S": plate}},
        ConsistentRead=True,
    )
    async for page in pages:
        for item in page["Items"]:
            found[item["service_description"]["S"]] += 1
    return found


def _report(title: str, tally: Tally) -> str:
    answered = sum(tally.answers.values())
    lines = [
        f"{title}: sent {tally.sent}, answered {answered}, failed {len(tally.failures)}",
        "  per instance: " + ", ".join(f"{name} {count}" for name, count in tally.per_instance().items()),
        "  statuses: "
        + ", ".join(
            f"{status} x{count}"
            for status, count in sorted(Counter(s for (_, s) in tally.answers.elements()).items())
        ),
    ]
    return "\n".join(lines)


async def test_a_rolling_restart_under_load_fails_no_request_and_stores_each_once(
    balancer: str,
    instances: list[Instance],
    technician: httpx.AsyncClient,
    dynamodb: DynamoDBClient,
    table: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tally = Tally()
    stop = asyncio.Event()
    load = asyncio.create_task(_load(balancer, technician, stop, tally, "LB 1"))
    await asyncio.sleep(2)
    exits = []
    for instance in instances:
        exits.append(await asyncio.to_thread(instance.terminate))
        await asyncio.to_thread(instance.start)
        await asyncio.to_thread(_wait_until_every_instance_answers, balancer, instances)
    await asyncio.sleep(2)
    stop.set()
    await load
    with capsys.disabled():
        print("\n" + _report("rolling restart of 3 instances behind haproxy", tally))

    assert tally.failures == []
    statuses = {status for (_, status) in tally.answers}
    assert statuses <= {200, 201}, _report("answers", tally)
    assert set(tally.per_instance()) == {i.name for i in instances}
    assert all(instance.starts == 2 for instance in instances)
    assert exits == [0] * INSTANCES or all(code in (0, -signal.SIGTERM) for code in exits)
    # Every form answered 201 is stored, once; nothing else is.
    stored = await _descriptions(dynamodb, table, "LB 1")
    answered = {description for description, status in tally.stored.items() if status == 201}
    assert answered == set(tally.stored)
    assert set(stored) - {"kept busy"} == answered
    assert all(count == 1 for count in stored.values()), stored.most_common(3)


async def test_one_addresss_forms_are_limited_across_instances_and_a_repeat_is_stored_once(
    balancer: str, dynamodb: DynamoDBClient, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = Tally()
    with _clients_from(balancer, ["127.0.2.1", "127.0.2.2"]) as (customer, repeater):
        try:
            for n in range(CREATE_LIMIT + 5):
                tally.record(await customer.post("/service-request", json=_form("LB LIMIT", f"visit {n}")))
            repeats = await asyncio.gather(
                *(repeater.post("/service-request", json=_form("LB REPEAT", "same form")) for _ in range(6))
            )
        finally:
            await _closed([customer, repeater])
    with capsys.disabled():
        print("\n" + _report(f"one address's forms, PUBLIC_CREATE_LIMIT={CREATE_LIMIT}", tally))

    assert len(tally.per_instance()) == INSTANCES, "round-robin spread them over every instance"
    by_status = Counter(s for (_, s) in tally.answers.elements())
    assert by_status == {201: CREATE_LIMIT, 429: 5}
    assert sum((await _descriptions(dynamodb, table, "LB LIMIT")).values()) == CREATE_LIMIT
    assert {r.status_code for r in repeats} == {201}
    assert len({r.headers["X-Served-By"] for r in repeats}) > 1
    assert await _descriptions(dynamodb, table, "LB REPEAT") == {"same form": 1}


async def test_concurrent_if_match_updates_through_different_instances_let_exactly_one_win(
    technician: httpx.AsyncClient,
) -> None:
    created = await technician.post("/requests", json=_form("LB MATCH", "one winner"))
    path = f"requests/{created.json()['license_plate']}/{created.json()['service_id']}"
    etag = created.headers["ETag"]
    answers = await asyncio.gather(
        *(
            technician.patch(
                f"/{path}", json={"service_description": f"writer {n}"}, headers={"If-Match": etag}
            )
            for n in range(9)
        )
    )
    assert sorted(r.status_code for r in answers) == [200] + [412] * 8
    assert len({r.headers["X-Served-By"] for r in answers}) == INSTANCES
    winner = next(r for r in answers if r.status_code == 200).json()["service_description"]
    assert (await technician.get(f"/{path}")).json()["service_description"] == winner


async def test_a_status_change_reaches_every_instances_public_list_within_its_cache_time(
    instances: list[Instance], technician: httpx.AsyncClient
) -> None:
    created = (await technician.post("/requests", json=_form("LB LIST", "watched"))).json()
    path = f"/requests/{created['license_plate']}/{created['service_id']}"
    assert (await technician.patch(path, json={"service_status": "Accepted"})).status_code == 200
    async with AsyncExitStack() as stack:
        direct = [await stack.enter_async_context(httpx.AsyncClient(base_url=i.url)) for i in instances]

        async def status_shown(client: httpx.AsyncClient) -> str | None:
            listed = (await client.get("/service-request")).json()
            shown = [r["service_status"] for r in listed if r["service_id"] == created["service_id"]]
            return shown[0] if shown else None

        # Each instance holds a copy of the list with the old status.
        assert [await status_shown(client) for client in direct] == ["Accepted"] * INSTANCES
        changed = time.monotonic()
        assert (await technician.patch(path, json={"service_status": "Being Serviced"})).status_code == 200
        waited: list[float] = []
        for client in direct:
            while await status_shown(client) != "Being Serviced":
                assert time.monotonic() - changed < CACHE_SECONDS + 1, "still the old status"
                await asyncio.sleep(0.05)
            waited.append(time.monotonic() - changed)
    # A copy is at most CACHE_SECONDS old when it is served; the polling adds at most one round.
    assert max(waited) <= CACHE_SECONDS + 0.3, waited
