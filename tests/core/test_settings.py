"""Configuration: environment variables by their plain names, and no DynamoDB chosen by accident."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.core.settings import ConfigurationError, Settings

_VARIABLES = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "DYNAMODB_MODE",
    "TABLE_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "CORS_ORIGINS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "FORWARDED_ALLOW_IPS",
    "STATUS_TOPIC_ARN",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    "RELAY_POLL_SECONDS",
    "EMBEDDED_PORT",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_an_endpoint_alone_selects_endpoint_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8001")
    settings = Settings()
    assert settings.mode == "endpoint"
    assert settings.dynamodb_endpoint == "http://127.0.0.1:8001"
    assert settings.table_name == "VehicleServices"


def test_nothing_configured_is_an_error() -> None:
    with pytest.raises(ValidationError, match="no DynamoDB configured"):
        Settings()


@pytest.mark.parametrize("mode", ["aws", "embedded"])
def test_real_aws_and_embedded_are_chosen_explicitly(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("DYNAMODB_MODE", mode)
    assert Settings().mode == mode


@pytest.mark.parametrize("mode", ["aws", "embedded"])
def test_an_endpoint_contradicting_the_mode_is_an_error(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("DYNAMODB_MODE", mode)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8001")
    with pytest.raises(ValidationError, match="contradicts"):
        Settings()


def test_variables_are_read_by_their_plain_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_MODE", "aws")
    monkeypatch.setenv("TABLE_NAME", "ShopRequests")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("CORS_ORIGINS", "https://shop.example, http://localhost:5173")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "Text")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")
    settings = Settings()
    assert settings.table_name == "ShopRequests"
    assert settings.aws_region == "eu-west-1"
    assert settings.cors_origins == ["https://shop.example", "http://localhost:5173"]
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "text"
    assert settings.forwarded_allow_ips == "10.0.0.5"


def test_logs_are_json_unless_text_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_MODE", "aws")
    assert Settings().log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "yaml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()


def test_aws_region_wins_over_the_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_MODE", "aws")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Settings().aws_region == "us-west-2"


def test_events_are_configured_by_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8001")
    monkeypatch.setenv("STATUS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:VehicleStatus")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:4566")
    monkeypatch.setenv("RELAY_POLL_SECONDS", "0.5")
    settings = Settings()
    assert settings.status_topic_arn == "arn:aws:sns:us-east-1:123456789012:VehicleStatus"
    assert settings.relay_poll_seconds == 0.5
    assert settings.endpoint("sns") == "http://127.0.0.1:4566"
    # DynamoDB Local and moto serve the stream, and moto SQS, where they serve the rest.
    assert settings.endpoint("dynamodbstreams") == "http://127.0.0.1:8001"
    assert settings.endpoint("sqs") == "http://127.0.0.1:4566"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "http://127.0.0.1:8002")
    assert Settings().endpoint("dynamodbstreams") == "http://127.0.0.1:8002"


def test_a_local_table_never_publishes_to_aws_by_accident(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8001")
    monkeypatch.setenv("STATUS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:VehicleStatus")
    with pytest.raises(ConfigurationError, match="AWS_ENDPOINT_URL_SNS is unset"):
        Settings().endpoint("sns")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    monkeypatch.setenv("DYNAMODB_MODE", "aws")
    assert Settings().endpoint("sns") is None  # AWS itself


def test_a_topic_is_an_sns_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_MODE", "aws")
    monkeypatch.setenv("STATUS_TOPIC_ARN", "VehicleStatus")
    with pytest.raises(ValidationError, match="status_topic_arn"):
        Settings()
