"""`python -m service serve` as `make run` starts it: embedded DynamoDB, the lab's rows, real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from tests.test_backend_faults import free_port


def test_serve_embedded_answers_with_the_lab_rows_over_http() -> None:
    port = free_port()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DYNAMODB_MODE": "embedded",
        "PORT": str(port),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the server exited early"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        active = httpx.get(f"http://127.0.0.1:{port}/requests/active").json()["items"]
        assert sorted((i["license_plate"], i["service_id"]) for i in active) == [
            ("1J1957", "2"),
            ("8B1111", "1"),
        ]
        docs = httpx.get(f"http://127.0.0.1:{port}/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "data lives in memory" in output
