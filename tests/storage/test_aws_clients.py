"""What every DynamoDB call of the service sends besides its request."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from service.storage.aws import USER_AGENT


async def test_every_call_names_the_service_in_its_user_agent_as_set_once(
    app: FastAPI, app_api: httpx.AsyncClient
) -> None:
    """botocore sends a User-Agent it is given as it is (its session's extra appended), rather than
    building its own from a dozen parts for every call."""
    client = await app.state.backend.client()
    sent: list[bytes] = []

    def note(request: Any, **_: Any) -> None:
        sent.append(request.headers["User-Agent"])

    client.meta.events.register("before-send.dynamodb", note)
    assert (await app_api.get("/requests/active")).status_code == 200
    assert (await app_api.get("/requests/8B1111/1")).status_code == 404
    assert len(sent) >= 2
    assert len(set(sent)) == 1
    assert sent[0].decode().startswith(USER_AGENT + " ")
    assert USER_AGENT.startswith("vehicle-services ")
