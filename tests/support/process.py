"""`python -m service serve` in a child process, as `make run` and the container start it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.support.servers import free_port

# The commands the container runs (Dockerfile, docker-compose.yml), which the tests run as they are.
SERVE_COMMAND = ("python", "-m", "service", "serve")
INIT_TABLE_COMMAND = ("python", "-m", "service", "init-table", "--seed")
HEALTHCHECK_COMMAND = ("python", "-m", "service", "healthcheck")
RELAY_COMMAND = ("python", "-m", "service", "relay-events")
INIT_EVENTS_COMMAND = ("python", "-m", "service", "init-events")
WATCH_COMMAND = ("python", "-m", "service", "watch-events")


def as_run_here(command: tuple[str, ...]) -> list[str]:
    """`command` with this test run's interpreter in place of the image's `python`."""
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@dataclass
class ServiceProcess:
    """A running service; `output` holds what it printed once it has stopped."""

    url: str
    process: subprocess.Popen[str]
    output: str = field(default="")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        self.output, _ = self.process.communicate(timeout=30)
        return self.process.returncode


@contextmanager
def running_service(**env: str) -> Iterator[ServiceProcess]:
    """Start the service as `make run` and the container do, with only `env` (plus PATH, a free PORT and
    by default the embedded DynamoDB) in its environment; wait until /readyz says ready. On leaving, stop
    it with SIGTERM, as a container runtime does, and keep its output."""
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DYNAMODB_MODE": "embedded",
        "PORT": str(port),
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        as_run_here(SERVE_COMMAND),
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    service = ServiceProcess(url=f"http://127.0.0.1:{port}", process=process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited early:\n{process.communicate()[0]}")
            try:
                if httpx.get(f"{service.url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the service did not become ready within 60 s")
            time.sleep(0.2)
        yield service
    finally:
        if process.poll() is None:
            service.stop()
