"""The service's configuration: one pydantic-settings class, read from environment variables."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DynamoDBMode = Literal["embedded", "endpoint", "aws"]
AuthMode = Literal["jwt", "gateway", "none"]


class ConfigurationError(ValueError):
    """The environment does not describe a usable configuration."""


class Settings(BaseSettings):
    """Every setting is the environment variable of the same name, upper-cased (no prefix)."""

    model_config = SettingsConfigDict(
        validate_by_name=True, validate_by_alias=True, extra="ignore", env_ignore_empty=True
    )

    table_name: str = Field(default="VehicleServices", min_length=3, max_length=255)
    aws_region: str = Field(
        default="us-east-1", validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    dynamodb_endpoint: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL_DYNAMODB")
    # Where the data lives. Unset means `endpoint` when AWS_ENDPOINT_URL_DYNAMODB is set; real AWS
    # and the in-memory store must be chosen explicitly, so neither is ever used by accident.
    dynamodb_mode: DynamoDBMode | None = None
    # Only for an endpoint: DynamoDB Local namespaces tables by access key unless started with -sharedDb.
    # Against real AWS botocore's own credential chain applies (environment, profile, Lambda role).
    aws_access_key_id: str = "local"
    aws_secret_access_key: SecretStr = SecretStr("local")
    # Each attempt gives up after these; botocore's standard retry mode backs off between attempts
    # (throttling included); DYNAMODB_DEADLINE bounds the whole call, retries included.
    dynamodb_connect_timeout: float = Field(default=1.0, gt=0, le=60)
    dynamodb_read_timeout: float = Field(default=3.0, gt=0, le=60)
    dynamodb_max_attempts: int = Field(default=3, ge=1, le=10)
    dynamodb_deadline: float = Field(default=10.0, gt=0, le=120)
    # Idempotency-Key records live in their own table: VehicleServices holds service requests only.
    idempotency_table_name: str = Field(default="VehicleServicesIdempotency", min_length=3, max_length=255)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # Addresses whose X-Forwarded-For/-Proto uvicorn believes (comma-separated, or * behind a proxy that
    # is the only way in); the scheme and host they give end up in Location headers.
    forwarded_allow_ips: str = "127.0.0.1"
    # Origins whose pages may call the technicians' routes (comma-separated, `*` for any). Unset means
    # any origin with a local DynamoDB (make run, docker compose) and none against AWS. The public form
    # and list grant every origin whatever this says, without credentials.
    cors_origins: Annotated[list[str] | None, NoDecode] = None
    cors_allow_credentials: bool = False
    # Larger request bodies are refused with 413 before they are parsed. The largest valid body (a
    # 10,000-character description of 4-byte characters, each JSON-escaped to 12 bytes) is about 122 KB.
    max_body_bytes: int = Field(default=128 * 1024, ge=1024, le=10 * 1024 * 1024)

    # How technicians are recognised: `jwt` verifies Cognito ID tokens itself, `gateway` trusts the
    # claims of an API Gateway Cognito authorizer, `none` lets everyone in (local development only).
    # Unset means `none` for the embedded store and `jwt` everywhere else.
    auth_mode: AuthMode | None = None
    cognito_user_pool_id: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d_[A-Za-z0-9]+$")
    cognito_client_id: str | None = None
    # Where the pool's signing keys are; unset means Cognito's own URL for COGNITO_USER_POOL_ID.
    jwks_url: str | None = None
    # Behind an API Gateway custom domain with a base path mapping (e.g. `/shop`), that path.
    api_gateway_base_path: str = "/"
    # Signs list cursors. Give every instance the same value so a cursor works on any of them;
    # when unset a random key is used and cursors are valid only in the process that made them.
    cursor_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _resolve_mode(self) -> Settings:
        if self.dynamodb_mode is None:
            if self.dynamodb_endpoint is None:
                raise ConfigurationError(
                    "no DynamoDB configured: set AWS_ENDPOINT_URL_DYNAMODB to a local endpoint "
                    "(DynamoDB Local, dynalite, moto), DYNAMODB_MODE=aws for real AWS, or "
                    "DYNAMODB_MODE=embedded for an in-memory store"
                )
            self.dynamodb_mode = "endpoint"
        elif self.dynamodb_mode == "endpoint" and self.dynamodb_endpoint is None:
            raise ConfigurationError("DYNAMODB_MODE=endpoint needs AWS_ENDPOINT_URL_DYNAMODB")
        elif self.dynamodb_mode != "endpoint" and self.dynamodb_endpoint is not None:
            raise ConfigurationError(
                f"DYNAMODB_MODE={self.dynamodb_mode} contradicts AWS_ENDPOINT_URL_DYNAMODB="
                f"{self.dynamodb_endpoint}; unset one of them"
            )
        return self

    @model_validator(mode="after")
    def _check_cors(self) -> Settings:
        if self.cors_origins is None:
            self.cors_origins = ["*"] if self.dynamodb_mode != "aws" else []
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ConfigurationError("CORS_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true")
        return self

    @property
    def auth(self) -> AuthMode:
        """The resolved auth mode."""
        if self.auth_mode is not None:
            return self.auth_mode
        return "none" if self.dynamodb_mode == "embedded" else "jwt"

    @property
    def technician_origins(self) -> list[str]:
        """The resolved CORS_ORIGINS (never None once validated)."""
        assert self.cors_origins is not None
        return self.cors_origins

    @property
    def cognito_issuer(self) -> str | None:
        """The `iss` of the pool's tokens: the pool's URL, in the region its id starts with."""
        if self.cognito_user_pool_id is None:
            return None
        region = self.cognito_user_pool_id.split("_", 1)[0]
        return f"https://cognito-idp.{region}.amazonaws.com/{self.cognito_user_pool_id}"

    @property
    def mode(self) -> DynamoDBMode:
        """The resolved mode (never None once validated)."""
        assert self.dynamodb_mode is not None
        return self.dynamodb_mode

    def with_endpoint(self, url: str) -> Settings:
        """The same settings pointed at a DynamoDB endpoint (used once the embedded store is up)."""
        return self.model_copy(
            update={"dynamodb_mode": "endpoint", "dynamodb_endpoint": url, "auth_mode": self.auth}
        )
