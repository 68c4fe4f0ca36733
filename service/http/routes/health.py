"""The health probes: the process is alive, and both tables answer; both say no while the instance drains."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.core.errors import BackendUnavailable, ShuttingDown
from service.core.models import Health
from service.http.deps import repository
from service.http.responses import error_responses

router = APIRouter(tags=["health"])


def _refuse_while_draining(request: Request) -> None:
    if request.app.state.draining:
        raise ShuttingDown("this instance is stopping")


@router.get(
    "/healthz", summary="The process is alive", responses=error_responses(ShuttingDown, takes_input=False)
)
async def healthz(request: Request) -> Health:
    _refuse_while_draining(request)
    return Health(status="ok")


@router.get(
    "/readyz", summary="Both tables answer", responses=error_responses(ShuttingDown, takes_input=False)
)
async def readyz(request: Request) -> Health:
    _refuse_while_draining(request)
    try:
        repo = await repository(request)
    except Exception as exc:
        raise BackendUnavailable("DynamoDB client cannot be created") from exc
    await repo.ping()
    return Health(status="ready")
