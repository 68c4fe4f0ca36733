"""The image and the compose stack run exactly the commands and settings that the other tests exercise."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.core.settings import Settings
from tests.support.process import (
    HEALTHCHECK_COMMAND,
    INIT_EVENTS_COMMAND,
    INIT_TABLE_COMMAND,
    RELAY_COMMAND,
    SERVE_COMMAND,
    WATCH_COMMAND,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def dockerfile_exec_form(instruction: str) -> tuple[str, ...]:
    """The JSON (exec form) command of the final stage's last `instruction` line in the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    commands = re.findall(rf"^{instruction}\b.*?(\[.*\])\s*$", text, flags=re.MULTILINE)
    assert commands, f"no exec-form {instruction} in the Dockerfile"
    return tuple(json.loads(commands[-1]))


def test_the_image_serves_and_probes_with_the_tested_commands() -> None:
    assert dockerfile_exec_form("CMD") == SERVE_COMMAND
    assert dockerfile_exec_form("HEALTHCHECK") == HEALTHCHECK_COMMAND


def test_compose_runs_the_tested_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert tuple(services["init-table"]["command"]) == INIT_TABLE_COMMAND
    assert tuple(services["api"]["command"]) == SERVE_COMMAND
    assert tuple(services["api"]["healthcheck"]["test"]) == ("CMD", *HEALTHCHECK_COMMAND)
    assert services["api"]["depends_on"]["init-table"]["condition"] == "service_completed_successfully"
    assert services["init-table"]["build"] == services["api"]["build"]


def test_the_events_profile_runs_the_tested_commands_after_the_table_and_the_topic(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    assert tuple(services["init-events"]["command"]) == INIT_EVENTS_COMMAND
    assert tuple(services["relay"]["command"]) == RELAY_COMMAND
    assert tuple(services["watch-events"]["command"]) == WATCH_COMMAND
    for name in ("local-aws", "init-events", "relay", "watch-events"):
        assert services[name]["profiles"] == ["events"], name
    assert (
        services["init-events"]["depends_on"]["init-table"]["condition"] == "service_completed_successfully"
    )
    for name in ("relay", "watch-events"):
        assert services[name]["depends_on"]["init-events"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"] == services["init-events"]["environment"]
    for name, value in services["relay"]["environment"].items():
        monkeypatch.setenv(str(name), str(value))
    settings = Settings()
    assert settings.status_topic_arn is not None
    assert settings.endpoint("sns") == "http://local-aws:5000"
    assert settings.endpoint("dynamodbstreams") == "http://dynamodb-local:8000"


def test_compose_builds_from_the_dockerfiles_base_image_unless_told_otherwise(
    compose: dict[str, Any],
) -> None:
    (default,) = re.findall(
        r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE
    )
    assert compose["services"]["api"]["build"]["args"]["PYTHON_IMAGE"] == f"${{PYTHON_IMAGE:-{default}}}"


def test_compose_environment_is_a_valid_configuration(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = {str(k): str(v) for k, v in compose["services"]["api"]["environment"].items()}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.mode == "endpoint"
    assert settings.dynamodb_endpoint == "http://dynamodb-local:8000"
    assert settings.host == "0.0.0.0"  # noqa: S104 - in a container, the published port must reach it
    assert settings.log_format == "json"


def test_dynamodb_local_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    dynamodb = compose["services"]["dynamodb-local"]
    command = dynamodb["command"]
    assert "-sharedDb" in command
    data_dir = command[command.index("-dbPath") + 1]
    assert f"dynamodb-data:{data_dir}" in dynamodb["volumes"]
    assert "dynamodb-data" in compose["volumes"]
    assert dynamodb["healthcheck"]["test"]


def test_the_image_gets_only_the_code_and_the_runtime_lock() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*"
    assert {rule for rule in rules if rule.startswith("!")} == {"!service/", "!requirements/runtime.txt"}
