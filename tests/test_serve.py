"""`python -m service serve` as `make run` starts it: embedded DynamoDB, the lab's rows, real HTTP."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.process import running_service


def test_serve_embedded_answers_with_the_lab_rows_over_http() -> None:
    with running_service(DYNAMODB_MODE="embedded") as service:
        active = httpx.get(f"{service.url}/requests/active").json()["items"]
        assert sorted((i["license_plate"], i["service_id"]) for i in active) == [
            ("1J1957", "2"),
            ("8B1111", "1"),
        ]
        docs = httpx.get(f"{service.url}/docs")
        assert docs.status_code == 200
        assert "swagger" in docs.text.lower()
        returncode = service.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells how it ended.
    assert returncode in (0, -signal.SIGTERM), service.output
    assert "Application shutdown complete" in service.output
    assert "data lives in memory" in service.output
    assert "AUTH_MODE=none" in service.output


def test_serve_refuses_jwt_mode_without_a_user_pool() -> None:
    with (
        pytest.raises(RuntimeError, match="AUTH_MODE=jwt needs COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID"),
        running_service(DYNAMODB_MODE="embedded", AUTH_MODE="jwt"),
    ):
        pass
