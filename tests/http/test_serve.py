"""`python -m service serve` as `make run` and the container start it: real HTTP, logs, health checks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading

import httpx
import pytest

from tests.support.process import (
    HEALTHCHECK_COMMAND,
    SERVE_COMMAND,
    WATCH_COMMAND,
    as_run_here,
    running_service,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.moto_only("starts the service with its embedded moto")


def healthcheck(url: str) -> subprocess.CompletedProcess[str]:
    """The container's HEALTHCHECK command, pointed at the port of `url`."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        as_run_here(HEALTHCHECK_COMMAND),
        env={"PORT": url.rsplit(":", 1)[1], "DYNAMODB_MODE": "aws"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_serve_embedded_answers_with_the_lab_rows_over_http() -> None:
    with running_service() as service:
        active = httpx.get(f"{service.url}/requests/active").json()["items"]
        keys = sorted((i["license_plate"], i["service_id"]) for i in active)
        assert keys == [("1J1957", "2"), ("8B1111", "1")]
        docs = httpx.get(f"{service.url}/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert service.process.returncode in (0, -signal.SIGTERM), service.output
    assert "Application shutdown complete" in service.output
    assert "data lives in memory" in service.output
    assert "AUTH_MODE=none" in service.output


def test_serve_refuses_jwt_mode_without_a_user_pool() -> None:
    with (
        pytest.raises(RuntimeError, match="AUTH_MODE=jwt needs COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID"),
        running_service(AUTH_MODE="jwt"),
    ):
        pass


def test_every_log_line_is_json_and_each_request_is_logged_once() -> None:
    with running_service() as service:
        response = httpx.get(f"{service.url}/requests/8B1111/1", headers={"X-Request-ID": "trace-42"})
        assert response.status_code == 200
        assert response.headers["X-Request-ID"] == "trace-42"
    lines = [json.loads(line) for line in service.output.splitlines()]
    mine = [line for line in lines if line.get("request_id") == "trace-42"]
    assert len(mine) == 1, service.output
    assert mine[0]["method"] == "GET"
    assert mine[0]["path"] == "/requests/8B1111/1"
    assert mine[0]["status"] == 200
    assert isinstance(mine[0]["duration_ms"], float)
    # uvicorn's own access line is off: no other line names the request.
    assert sum("/requests/8B1111/1" in json.dumps(line) for line in lines) == 1


def test_healthcheck_command_follows_readiness() -> None:
    with running_service() as service:
        ready = healthcheck(service.url)
        assert ready.returncode == 0, ready.stderr
        assert "answered 200" in ready.stdout
    stopped = healthcheck(service.url)
    assert stopped.returncode == 1
    assert "not ready" in stopped.stderr


def test_healthcheck_needs_the_dynamodb_setting_as_serve_does() -> None:
    """Without AWS_ENDPOINT_URL_DYNAMODB or DYNAMODB_MODE it asks no server: exit 2, naming the setting."""
    unset = subprocess.run(  # noqa: S603 - our own interpreter and module
        as_run_here(HEALTHCHECK_COMMAND),
        env={"PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert unset.returncode == 2
    assert "DYNAMODB_MODE" in unset.stderr


def test_serve_embedded_sends_status_changes_to_the_labs_queues_where_watch_events_shows_them() -> None:
    """What `make run` and `make watch-events` do: the embedded moto holds the lab's topic and queues,
    the relay runs beside the API, and the watcher prints what reaches a queue."""
    port = free_port()
    with running_service(EMBEDDED_PORT=str(port)) as service:
        changed = httpx.patch(f"{service.url}/requests/8B1111/1", json={"service_status": "Completed"})
        assert changed.status_code == 200
        watcher = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*as_run_here(WATCH_COMMAND), "--queue", "VehicleCompletedQueue"],
            env={
                "PATH": os.environ.get("PATH", ""),
                "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
                "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{port}",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # A watcher that prints nothing is stopped after a minute, and the test fails on its lines.
        timer = threading.Timer(60, watcher.kill)
        timer.start()
        try:
            assert watcher.stdout is not None
            lines = [watcher.stdout.readline() for _ in range(2)]
        finally:
            timer.cancel()
            watcher.send_signal(signal.SIGTERM)
            rest, _ = watcher.communicate(timeout=30)
            assert watcher.returncode == 0, rest
    assert lines[0].startswith("watching VehicleCompletedQueue"), lines
    queue, subject, message = lines[1].split("  ", 2)
    assert (queue, subject) == ("VehicleCompletedQueue", "1")
    assert json.loads(message)["service_status"] == "Completed"
    assert json.loads(message)["previous_status"] == "Being Serviced"


def test_without_token_checks_on_every_interface_the_log_warns_that_anyone_is_a_technician() -> None:
    with running_service(HOST="0.0.0.0", ALLOWED_HOSTS="192.168.1.20") as service:  # noqa: S104 - on purpose
        assert httpx.get(f"{service.url}/healthz").status_code == 200
    assert "AUTH_MODE=none on 0.0.0.0: anyone on the network who reaches this machine by 192.168.1.20" in (
        service.output
    )


def test_without_token_checks_on_loopback_the_log_has_no_such_warning() -> None:
    with running_service() as service:
        assert httpx.get(f"{service.url}/healthz").status_code == 200
    assert "anyone on the network" not in service.output


@pytest.mark.parametrize("setting", ["EMBEDDED_PORT", "PORT"])
def test_serve_exits_at_once_naming_the_setting_when_its_port_is_taken(setting: str) -> None:
    """A second `make run` beside the first: a clear message at once, not a process waiting forever."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = str(holder.getsockname()[1])
        env = {"PATH": os.environ.get("PATH", ""), "DYNAMODB_MODE": "embedded", "PORT": str(free_port())}
        env[setting] = taken
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            as_run_here(SERVE_COMMAND), env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{taken}" in done.stderr
    assert f"set {setting} to another port" in done.stderr


def test_after_sigterm_a_draining_instance_fails_its_probes_but_serves_on_then_stops() -> None:
    """What lets a load balancer take it out of rotation before it stops accepting connections."""
    with running_service(SHUTDOWN_DRAIN_SECONDS="3") as service:
        service.process.send_signal(signal.SIGTERM)
        probes = [httpx.get(f"{service.url}{path}") for path in ("/healthz", "/readyz")]
        served = httpx.get(f"{service.url}/service-request")
        assert [p.status_code for p in probes] == [503, 503]
        assert {p.json()["code"] for p in probes} == {"shutting_down"}
        assert served.status_code == 200
        output, _ = service.process.communicate(timeout=30)
        assert service.process.returncode in (0, -signal.SIGTERM)
    assert "draining for 3.0 s" in output
