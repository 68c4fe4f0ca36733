"""`python -m service serve` in a child process, as `make run` and the container start it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
    """Start the service with only `env` (plus PATH) in its environment; wait until /readyz says ready."""
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PORT": str(port),
        "AWS_EC2_METADATA_DISABLED": "true",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve"],
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
