"""The service's configuration: one pydantic-settings class, read from environment variables."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.core.hosts import host_name

DynamoDBMode = Literal["embedded", "endpoint", "aws"]
AuthMode = Literal["jwt", "gateway", "none"]
# The AWS services the service and its commands talk to, by botocore's names.
AwsService = Literal["dynamodb", "dynamodbstreams", "sns", "sqs"]


class ConfigurationError(ValueError):
    """The environment does not describe a usable configuration."""


def _seconds(default: float, most: float, what: str) -> Any:
    """A duration setting: more than 0 and at most `most` seconds."""
    return Field(default=default, gt=0, le=most, description=f"Seconds {what}")


class Settings(BaseSettings):
    """Every setting is the environment variable of the same name, upper-cased (no prefix)."""

    model_config = SettingsConfigDict(
        validate_by_name=True, validate_by_alias=True, extra="ignore", env_ignore_empty=True
    )

    # Where the data lives.
    dynamodb_endpoint: str | None = Field(
        default=None,
        validation_alias="AWS_ENDPOINT_URL_DYNAMODB",
        description="A DynamoDB-protocol endpoint (DynamoDB Local, dynalite, moto).",
    )
    dynamodb_mode: DynamoDBMode | None = Field(
        default=None,
        description="`endpoint`, `aws` (real AWS) or `embedded` (in-memory moto, `serve` only). Unset means "
        "`endpoint` when AWS_ENDPOINT_URL_DYNAMODB is set; real AWS and the in-memory store must be chosen, "
        "so neither is used by accident, and a mode that contradicts the endpoint is refused. `make run` "
        "picks `embedded` when no endpoint is set.",
        json_schema_extra={"default_doc": "`endpoint` with an endpoint, else none"},
    )
    table_name: str = Field(
        default="VehicleServices", min_length=3, max_length=255, description="The service-request table."
    )
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION"),
        description="The region; moto and DynamoDB Local keep tables per region.",
    )
    aws_access_key_id: str = Field(
        default="local",
        description="Credentials for an endpoint (DynamoDB Local namespaces tables by key unless started "
        "with -sharedDb); against AWS botocore's own chain applies (environment, profile, Lambda role).",
    )
    aws_secret_access_key: SecretStr = Field(
        default=SecretStr("local"), description="See `AWS_ACCESS_KEY_ID`."
    )
    dynamodb_connect_timeout: float = _seconds(1.0, 60, "before one DynamoDB attempt gives up connecting.")
    dynamodb_read_timeout: float = _seconds(
        3.0, 60, "before one DynamoDB attempt gives up waiting for its answer."
    )
    dynamodb_max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Attempts per DynamoDB call, with botocore's `standard` retry mode "
        "(backoff on throttling).",
    )
    dynamodb_deadline: float = _seconds(
        10.0, 120, "one DynamoDB call may take in all, retries included; then `503`."
    )
    idempotency_table_name: str = Field(
        default="VehicleServicesIdempotency",
        min_length=3,
        max_length=255,
        description="The table of `Idempotency-Key` records (key `idempotency_key`, TTL on `expires_at`); "
        "VehicleServices holds service requests only.",
    )
    idempotency_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=60,
        le=30 * 24 * 3600,
        description="How long an `Idempotency-Key` is remembered.",
    )

    # Abuse limits on the public routes.
    public_create_limit: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="Anonymous `POST /service-request` calls one client address may make per window (an "
        "IPv6 address counts by its /64 network); more are answered `429` with `Retry-After`. Counted in the "
        "Idempotency-Key table, so every instance counts together; technicians are not counted.",
    )
    public_create_window_seconds: int = Field(
        default=600, ge=1, le=86_400, description="The window of `PUBLIC_CREATE_LIMIT`, in seconds."
    )
    duplicate_window_seconds: int = Field(
        default=600,
        ge=1,
        le=86_400,
        description="The same form (plate, phone number and description) sent again within this many "
        "seconds, while its request is stored and open, is the same request: stored once, and every repeat "
        "answered like the first. Once that request is deleted, Completed or Service Rejected, the form is "
        "a new request.",
    )
    public_list_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="The public list (`GET /service-request`) is served from a per-instance copy at most "
        "this many seconds old (`0`: read every time); technicians' lists are never cached.",
    )

    # Status-change events: the table's stream, relayed to SNS.
    status_topic_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$",
        description="The SNS topic (the lab's `VehicleStatus`) that each creation and status change of a "
        "request is published to, from the table's stream. Unset means no events: `init-table` leaves the "
        "stream off and `relay-events` refuses to start; nothing else changes.",
    )
    status_failures_queue_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="The SQS queue where stream records that cannot be published are kept for a person "
        "(the stack's `StatusEventFailuresQueue`). Unset: with a local SQS, its queue `StatusEventFailures`, "
        "created when missing; against AWS `relay-events` refuses to start and the stream's function "
        "reports such records to Lambda, whose on-failure destination is that queue.",
        json_schema_extra={"default_doc": "the local SQS's `StatusEventFailures`"},
    )
    streams_endpoint: str | None = Field(
        default=None,
        validation_alias="AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
        description="A DynamoDB Streams endpoint for `relay-events`.",
        json_schema_extra={"default_doc": "`AWS_ENDPOINT_URL_DYNAMODB` (DynamoDB Local and moto serve both)"},
    )
    sns_endpoint: str | None = Field(
        default=None,
        validation_alias="AWS_ENDPOINT_URL_SNS",
        description="An SNS endpoint (moto) for `relay-events` and `init-events`; needed whenever DynamoDB "
        "is local, so that events never reach a real topic by accident.",
    )
    sqs_endpoint: str | None = Field(
        default=None,
        validation_alias="AWS_ENDPOINT_URL_SQS",
        description="An SQS endpoint for `init-events`, `watch-events` and the failure queue of "
        "`relay-events`.",
        json_schema_extra={"default_doc": "`AWS_ENDPOINT_URL_SNS` (moto serves both)"},
    )
    relay_poll_seconds: float = _seconds(
        1.0, 60, "`relay-events` waits before asking the stream again when it had nothing new."
    )
    embedded_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="The port of 127.0.0.1 where `serve` with the embedded store runs moto (DynamoDB, its "
        "stream, SNS and SQS); `0`: any free port. `make run` uses 4566, so `make watch-events` finds it.",
    )

    # The HTTP server.
    host: str = Field(default="127.0.0.1", description="Where `serve` listens.")
    port: int = Field(default=8000, ge=0, le=65535, description="Where `serve` listens.")
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="The most a request's line and headers may hold together under `serve`; more is answered "
        "`431` and the connection closed, before the rest is read. Room for a technician's token and a "
        "browser's usual headers many times over.",
    )
    headers_timeout_seconds: float = _seconds(
        10.0,
        300,
        "a request's line and headers may take to arrive under `serve`, from the connection's start (its "
        "first request) or the request's first byte; then `408` and the connection is closed.",
    )
    body_timeout_seconds: float = _seconds(
        30.0,
        600,
        "a request's body may take to arrive under `serve`, from the end of its headers; then `408` and the "
        "connection is closed. The largest body, `MAX_BODY_BYTES`, takes 13 s at 10 KB/s.",
    )
    keep_alive_seconds: int = Field(
        default=5,
        ge=1,
        le=3600,
        description="Seconds an idle kept-alive connection stays open under `serve`. Behind a load balancer, "
        "make it longer than the balancer's own idle timeout (an ALB's is 60 s), so that the balancer never "
        "sends a request on a connection the service is closing.",
    )
    shutdown_drain_seconds: float = Field(
        default=0.0,
        ge=0,
        le=300,
        description="After SIGTERM, `serve` keeps answering for this long while `/healthz` and `/readyz` "
        "answer `503`, so a load balancer that health-checks it stops sending requests before it stops "
        "accepting connections; then the requests in flight finish. `0`: stop accepting at once (ECS "
        "deregisters a task from its target group before it sends SIGTERM).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`."
    )
    log_format: Literal["json", "text"] = Field(
        default="json",
        description="`json`: one JSON object per line, for log collectors; `text`: plain lines for people.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Comma-separated addresses or networks (or `*`) whose `X-Forwarded-For`/`-Proto` headers "
        "`serve` believes: the reverse proxy's. The scheme and host they give end up in `Location`, and the "
        "last `X-Forwarded-For` address not in this list is the client address that `PUBLIC_CREATE_LIMIT` "
        "counts. With `*` that is the first address, which callers write themselves unless the proxy "
        "replaces the header: name the proxy instead.",
    )
    cors_origins: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Comma-separated origins whose pages may call the technicians' routes (`*`: any); "
        "requests from other pages are refused (`403`). Unset means the pages on this machine (`localhost`, "
        "`*.localhost`, `127.0.0.0/8`, `[::1]`, any port) with `AUTH_MODE=none` (`make run`, `docker "
        "compose`), else any origin with a local DynamoDB or on Lambda with nothing set, and none against "
        "AWS elsewhere. The public form and list grant every origin whatever this says, without credentials.",
        json_schema_extra={
            "default_doc": "this machine's pages with `AUTH_MODE=none`; else `*` with a local DynamoDB "
            "or on Lambda, else none"
        },
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names or addresses that `AUTH_MODE=none` answers besides this "
        "machine's own (`localhost`, loopback addresses): the machine's address on the local network for a "
        "phone to reach, a compose service's name. Anyone who reaches one acts as a technician. Other modes "
        "answer any host.",
        json_schema_extra={"default_doc": "none"},
    )
    cors_allow_credentials: bool = Field(
        default=False,
        description="Let browsers send cookies to the technicians' routes; refused with `*` or `null` among "
        "the origins (any page can send `Origin: null`).",
    )
    max_body_bytes: int = Field(
        default=128 * 1024,
        ge=1024,
        le=10 * 1024 * 1024,
        description="Request bodies larger than this are refused with `413` before they are parsed, "
        "whether `Content-Length` says so or a chunked body grows past it. The largest valid body (a "
        "10,000-character description of 4-byte characters, each JSON-escaped to 12 bytes) is about 122 KB.",
    )

    # Technicians.
    auth_mode: AuthMode | None = Field(
        default=None,
        description="How technicians are recognised: `jwt` verifies Cognito ID tokens itself, `gateway` "
        "trusts the claims of an API Gateway Cognito authorizer, `none` lets everyone in (local development "
        "only). Unset means `none` with the embedded store and `jwt` everywhere else.",
        json_schema_extra={"default_doc": "`jwt`; `none` with the embedded store"},
    )
    technician_group: str | None = Field(
        default=None,
        max_length=128,
        # Commas, brackets and spaces separate groups in the claims API Gateway passes on.
        pattern=r"^[^\s,\[\]]+$",
        description="The user pool group whose members are technicians: a token (`jwt`) or authorizer "
        "claims (`gateway`) whose `cognito:groups` lacks it is refused with `403` on the technicians' "
        "routes, and is an anonymous customer on the public form. Unset means every user of the pool is a "
        "technician. No effect with `AUTH_MODE=none`.",
    )
    cognito_user_pool_id: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d_[A-Za-z0-9]+$",
        description="The user pool, e.g. `us-east-1_AbCdEf123` (its region is the tokens' issuer's).",
    )
    cognito_client_id: str | None = Field(
        default=None, description="The website's app client id: the tokens' audience."
    )
    jwks_url: str | None = Field(
        default=None,
        description="Where the pool's signing keys are published.",
        json_schema_extra={"default_doc": "the pool's own"},
    )
    jwks_cache_seconds: float = _seconds(
        3600.0,
        24 * 3600,
        "the pool's signing keys are used after they were fetched; then the whole set is fetched again, "
        "so a key the pool has dropped is trusted no longer.",
    )
    jwks_refetch_cooldown_seconds: float = _seconds(
        30.0,
        3600,
        "between two fetches of the signing keys for a token whose key id the set lacks (a key the pool "
        "has just added); tokens with made-up key ids fetch no more often.",
    )
    jwks_timeout_seconds: float = _seconds(
        5.0,
        60,
        "one fetch of the signing keys may take; requests that need the keys meanwhile wait for that "
        "same fetch, and get `503` if it has not brought them by then.",
    )
    lambda_function_name: str | None = Field(
        default=None,
        validation_alias="AWS_LAMBDA_FUNCTION_NAME",
        description="Set by the Lambda runtime, never by hand. Present, an unset `DYNAMODB_MODE` means real "
        "DynamoDB in `AWS_REGION` (the function's) and an unset `AUTH_MODE` means `gateway`, so a function "
        "created in the console from the zip needs no setting.",
        json_schema_extra={"default_doc": "the function's name on Lambda, else unset"},
    )
    api_gateway_base_path: str = Field(
        default="/",
        description="On Lambda behind an API Gateway custom domain with a base path mapping, that path "
        "(e.g. `/shop`).",
    )
    cursor_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="Signs list cursors. Give every instance the same value so a cursor works on any of "
        "them; unset, a random key is used and cursors are valid only in the process that made them.",
        json_schema_extra={"default_doc": "random per process"},
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            names = [host_name(str(host).strip()) for host in value if str(host).strip()]
            if None in names:
                raise ValueError("ALLOWED_HOSTS holds something that is no host name or address")
            return names
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _resolve_mode(self) -> Settings:
        if self.dynamodb_mode is None:
            if self.dynamodb_endpoint is None and self.on_lambda:
                # The runtime's own variables are there: the function's account and region are the table's.
                self.dynamodb_mode = "aws"
            elif self.dynamodb_endpoint is None:
                raise ConfigurationError(
                    "no DynamoDB configured: set AWS_ENDPOINT_URL_DYNAMODB to a local endpoint "
                    "(DynamoDB Local, dynalite, moto), DYNAMODB_MODE=aws for real AWS, or "
                    "DYNAMODB_MODE=embedded for an in-memory store"
                )
            else:
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
        if self.cors_origins is None and self.auth != "none":
            # On Lambda with nothing set (the console's zip) the course's pages call from their own origin,
            # as the course's functions allow; technicians' routes still need a token in a header there.
            self.cors_origins = ["*"] if self.dynamodb_mode != "aws" or self.on_lambda else []
        # With AUTH_MODE=none it stays None: every caller is a technician, so only pages on this machine.
        if self.cors_allow_credentials and self.cors_origins is not None:
            if "*" in self.cors_origins:
                raise ConfigurationError("CORS_ORIGINS=* cannot be combined with CORS_ALLOW_CREDENTIALS=true")
            if "null" in self.cors_origins:
                # Sandboxed frames, data: URLs and local files all send `Origin: null`: any page can.
                raise ConfigurationError(
                    "CORS_ORIGINS=null grants any page that sandboxes itself; it cannot be combined with "
                    "CORS_ALLOW_CREDENTIALS=true"
                )
        return self

    @property
    def on_lambda(self) -> bool:
        """Whether this process is a Lambda function's (the runtime has set its variables)."""
        return self.lambda_function_name is not None

    @property
    def auth(self) -> AuthMode:
        """The resolved auth mode."""
        if self.auth_mode is not None:
            return self.auth_mode
        if self.dynamodb_mode == "embedded":
            return "none"
        # On Lambda the course's API Gateway checks the tokens with its Cognito authorizer.
        return "gateway" if self.on_lambda else "jwt"

    @property
    def technician_origins(self) -> list[str] | None:
        """The resolved CORS_ORIGINS; None: the pages on this machine (AUTH_MODE=none, CORS_ORIGINS unset)."""
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
        """The same settings pointed at one local endpoint for DynamoDB, its stream, SNS and SQS (used once
        the embedded store is up)."""
        return self.model_copy(
            update={
                "dynamodb_mode": "endpoint",
                "dynamodb_endpoint": url,
                "streams_endpoint": url,
                "sns_endpoint": url,
                "sqs_endpoint": url,
                "auth_mode": self.auth,
            }
        )

    def endpoint(self, service: AwsService) -> str | None:
        """Where the client of `service` connects: None means AWS itself. Raises ConfigurationError for
        SNS or SQS without an endpoint while DynamoDB is local: local events must not reach AWS."""
        if self.mode == "aws":
            return None
        endpoints = {
            "dynamodb": self.dynamodb_endpoint,
            "dynamodbstreams": self.streams_endpoint or self.dynamodb_endpoint,
            "sns": self.sns_endpoint,
            "sqs": self.sqs_endpoint or self.sns_endpoint,
        }
        url = endpoints[service]
        if url is None:
            raise ConfigurationError(
                f"DynamoDB is local ({self.dynamodb_endpoint}) but AWS_ENDPOINT_URL_{service.upper()} is "
                "unset: events from a local table must not reach AWS"
            )
        return url
