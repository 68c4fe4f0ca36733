"""`handler(event, context)`: the AWS Lambda entry point (`lambda_adapter.handler.handler`).

Importing this module is Lambda's init phase: it builds the app and opens the DynamoDB client, which is what a
SnapStart snapshot captures; its hooks warm a first request's code before the snapshot and make every restored
copy unique. Without SnapStart the same import serves a plain cold start, and the hooks are never called.
"""

from __future__ import annotations

import gc

# What the imports and the initialisation below build lives as long as the process: collecting garbage
# meanwhile finds none, and its passes over the growing heap cost about a tenth of a cold start. Collection
# resumes at the end of this module, with everything built so far frozen out of its reach.
gc.disable()

import asyncio
import json
import logging
from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI
from mangum import Mangum
from mangum.types import LambdaContext, LambdaEvent
from pydantic import ValidationError

from lambda_adapter import snapstart
from lambda_adapter.event_handlers import REQUESTS, DirectInvocation
from lambda_adapter.shapes import MalformedEvent
from service.core.garbage_collection import collect_less_often
from service.core.logs import configure_logging, invocation_id
from service.core.settings import ConfigurationError, Settings
from service.http.app import create_app
from service.storage.backend import Backend
from service.storage.warmup import answered_locally

log = logging.getLogger(__name__)


class LambdaAdapter:
    """The app behind Mangum, built once and kept for the container's life, on one event loop.

    Mangum runs every invocation on the thread's current event loop; this keeps that one loop for
    the container, so the DynamoDB client (opened by `prepare`, or on first use, never in the lifespan,
    which Mangum would run on every invocation) stays valid for warm invocations.
    """

    def __init__(self, settings: Settings | None = None, *, configure_logs: bool = False) -> None:
        self._settings = settings
        # The function's own adapter routes every logger through the service's handler (JSON lines by
        # default) in place of the runtime's plain-text one; tests keep theirs.
        self._configure_logs = configure_logs
        self._app: FastAPI | None = None
        self._mangum: Mangum | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _build(self) -> Mangum:
        try:
            settings = self._settings or Settings()
        except (ConfigurationError, ValidationError):
            if self._configure_logs:
                configure_logging("INFO", "json")  # so that the error logged next is a JSON line too
            raise
        if self._configure_logs:
            configure_logging(settings.log_level, settings.log_format)
        else:
            logging.getLogger().setLevel(settings.log_level)
        self._app = create_app(settings)
        return Mangum(
            self._app,
            lifespan="off",
            api_gateway_base_path=settings.api_gateway_base_path,
            custom_handlers=[*REQUESTS, DirectInvocation],
        )

    def _enter_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        return self._loop

    @property
    def app(self) -> FastAPI | None:
        """The app, once built."""
        return self._app

    @property
    def _backend(self) -> Backend | None:
        return None if self._app is None else self._app.state.backend

    def prepare(self) -> None:
        """Build the app and open its DynamoDB client, sending nothing; raises what stops either."""
        loop = self._enter_loop()
        if self._mangum is None:
            self._mangum = self._build()
        assert self._backend is not None
        loop.run_until_complete(self._backend.client())

    def warm_up(self) -> None:
        """Before a snapshot: answer the website's first requests through the whole stack, DynamoDB's client
        included, with its calls answered by a stand-in on 127.0.0.1, so the snapshot holds code that has run,
        its caches filled and the connection pool built, but no connection and no data."""
        if self._backend is None:
            return  # not initialised: the first invocation will say why
        # A warm-up that fails costs the copies some speed, not their service: the snapshot is taken anyway.
        try:
            self._warm_up(self._backend)
        except Exception:
            log.exception("warm-up failed; the snapshot holds what was initialised")

    def _warm_up(self, backend: Backend) -> None:
        loop = self._enter_loop()
        client = loop.run_until_complete(backend.client())
        stand_in = AsyncExitStack()
        loop.run_until_complete(stand_in.enter_async_context(answered_locally(client)))
        try:
            for event in snapstart.WARM_UP_EVENTS:
                status = self(event, snapstart.WarmUpContext())["statusCode"]
                if status >= 400:
                    log.warning("warm-up %s %s answered %s", event["httpMethod"], event["path"], status)
        finally:
            loop.run_until_complete(stand_in.aclose())
            self._forget_answers()

    def _forget_answers(self) -> None:
        """Drop what the app keeps of earlier answers: the public list the warm-up read from the stand-in
        is no list of the table's, and one from before a snapshot is of unknown age in a restored copy."""
        if self._app is not None:
            self._app.state.public_list.forget()

    def restored(self) -> None:
        """After a restore: reseed what every copy shares, and drop the connections no copy can use."""
        snapstart.reseed()
        self._forget_answers()
        if self._backend is None:
            return
        try:
            self._enter_loop().run_until_complete(self._backend.drop_connections())
        except Exception:
            # A kept connection that is dead fails its first call, which botocore retries on a new one.
            log.exception("the client's connections could not be dropped")

    def close(self) -> None:
        """Close the DynamoDB client and the loop. A container never needs this; tests and tools do."""
        if self._loop is None:
            return
        if self._backend is not None:
            self._loop.run_until_complete(self._backend.aclose())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()
        self._loop = self._app = self._mangum = None

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
        self._enter_loop()
        invocation = invocation_id.set(getattr(context, "aws_request_id", None))
        try:
            if self._mangum is None:
                self._mangum = self._build()
            return self._mangum(event, context)
        except MalformedEvent as malformed:
            # Names the field and what is wrong with it; the event's values stay out of the log.
            log.warning("refused a malformed request event (400): %s", malformed)
            return malformed.answer()
        except Exception:
            log.exception("invocation failed")
            return {
                "statusCode": 500,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"message": "internal error; it has been logged"}),
            }
        finally:
            invocation_id.reset(invocation)


_adapter = LambdaAdapter(configure_logs=True)
try:
    _adapter.prepare()
except (ConfigurationError, ValidationError) as exc:
    # A misconfigured function still starts: every invocation tries again, answers 500 and logs why.
    log.error("not initialised, invalid configuration: %s", exc)
except Exception:
    log.exception("not initialised; the first invocation tries again")
finally:
    gc.enable()
    # Then as `serve` does: everything built so far frozen, and warm invocations collecting less often.
    collect_less_often(collect_first=False)
snapstart.register(before_snapshot=_adapter.warm_up, after_restore=_adapter.restored)


def handler(event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point: API Gateway (REST and HTTP APIs), Function URL and ALB events are HTTP
    requests to the service; any other event answers the public list of active requests."""
    return _adapter(event, context)
