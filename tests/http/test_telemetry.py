"""FastAPI's OpenTelemetry hook: kept where an OpenTelemetry SDK could record what it observes, and where
none is installed, no request pays for looking up the providers."""

from __future__ import annotations

from importlib.machinery import ModuleSpec
from importlib.util import find_spec

import pytest
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from service.core.settings import Settings
from service.http import app as app_module
from service.http.app import create_app
from tests.support.helpers import served


def _with_sdk(name: str) -> ModuleSpec | None:
    """find_spec, as where the SDK is installed."""
    return ModuleSpec(name, None) if name == "opentelemetry.sdk" else find_spec(name)


@pytest.mark.parametrize("sdk", [False, True], ids=["no SDK", "SDK installed"])
async def test_requests_look_for_a_tracer_provider_only_where_an_sdk_is_installed(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, sdk: bool
) -> None:
    assert find_spec("opentelemetry.sdk") is None, "this test runs where the SDK is not installed"
    if sdk:
        monkeypatch.setattr(app_module, "find_spec", _with_sdk)
    looked: list[TracerProvider] = []
    global_provider = trace.get_tracer_provider

    def recorded() -> TracerProvider:
        looked.append(global_provider())
        return looked[-1]

    monkeypatch.setattr(trace, "get_tracer_provider", recorded)
    async with served(create_app(settings)) as client:
        for _ in range(3):
            assert (await client.get("/healthz")).status_code == 200
    if sdk:
        assert len(looked) >= 3, "FastAPI looks on every request, as a provider may be set at any time"
    else:
        assert looked == []
