"""`handler(event, context)`: the AWS Lambda entry point (`lambda_adapter.handler.handler`)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import FastAPI
from mangum import Mangum
from mangum.types import LambdaContext, LambdaEvent

from lambda_adapter.events import DirectInvocation, HttpApi, LoadBalancer, RestApi
from service.app import create_app
from service.settings import Settings

log = logging.getLogger(__name__)


class LambdaAdapter:
    """The app behind Mangum, built on the first invocation and kept for the container's life.

    Mangum runs every invocation on the thread's current event loop; this keeps that one loop for
    the container, so the DynamoDB client (opened lazily by the app on first use, never in the
    lifespan, which Mangum would run on every invocation) stays valid for warm invocations.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._app: FastAPI | None = None
        self._mangum: Mangum | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _build(self) -> Mangum:
        settings = self._settings or Settings()
        logging.getLogger().setLevel(settings.log_level)
        self._app = create_app(settings)
        return Mangum(
            self._app,
            lifespan="off",
            api_gateway_base_path=settings.api_gateway_base_path,
            custom_handlers=[RestApi, HttpApi, LoadBalancer, DirectInvocation],
        )

    @property
    def app(self) -> FastAPI | None:
        """The app, once the first invocation has built it."""
        return self._app

    def close(self) -> None:
        """Close the DynamoDB client and the loop. A container never needs this; tests and tools do."""
        if self._loop is None:
            return
        if self._app is not None:
            self._loop.run_until_complete(self._app.state.backend.aclose())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()
        self._loop = self._app = self._mangum = None

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            if self._mangum is None:
                self._mangum = self._build()
            return self._mangum(event, context)
        except Exception:
            log.exception("invocation failed")
            return {
                "statusCode": 500,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"message": "internal error; it has been logged"}),
            }


_adapter = LambdaAdapter()


def handler(event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point: API Gateway (REST and HTTP APIs), Function URL and ALB events are HTTP
    requests to the service; any other event answers the public list of active requests."""
    return _adapter(event, context)
