"""The health probes: the process is alive, and the table answers."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.deps import repository
from service.errors import BackendUnavailable
from service.models import Health
from service.responses import error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="The table answers", responses=error_responses(takes_input=False))
async def readyz(request: Request) -> Health:
    try:
        repo = await repository(request)
    except Exception as exc:
        raise BackendUnavailable("DynamoDB client cannot be created") from exc
    await repo.ping()
    return Health(status="ready")
