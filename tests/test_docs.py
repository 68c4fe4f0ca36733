"""/docs and /redoc name no outside host: their scripts, styles and icon come from the service itself."""

from __future__ import annotations

import importlib.util
import re
from importlib.machinery import ModuleSpec

import pytest

from tests.helpers import api_client, make_settings

# Every URL a page can load from: src, href, and the spec URL handed to Swagger UI.
_REFERENCES = re.compile(r"""(?:src|href)="([^"]*)"|url: '([^']*)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_everything_from_this_service(page: str) -> None:
    async with api_client(make_settings("http://127.0.0.1:9")) as api:
        html = (await api.get(page)).text
        references = [a or b for a, b in _REFERENCES.findall(html)]
        assert references, html
        for reference in references:
            assert reference.startswith("/"), f"{page} loads {reference}"
            assert not reference.startswith("//"), f"{page} loads {reference}"
            loaded = await api.get(reference)
            assert loaded.status_code == 200, reference
    assert "fastapi.tiangolo.com" not in html
    assert "fonts.googleapis.com" not in html


async def test_swagger_ui_sends_nothing_to_the_online_validator() -> None:
    async with api_client(make_settings("http://127.0.0.1:9")) as api:
        html = (await api.get("/docs")).text
    assert '"validatorUrl": null' in html


async def test_docs_assets_are_not_operations_of_the_api() -> None:
    async with api_client(make_settings("http://127.0.0.1:9")) as api:
        paths = (await api.get("/openapi.json")).json()["paths"]
        missing = await api.get("/docs-assets/nothing.js")
    assert not any(path.startswith(("/docs", "/redoc")) for path in paths)
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_the_assets_are_looked_for_on_the_first_request_for_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Starting the app reads nothing of the documentation (a Lambda's cold start never serves it)."""
    looked_for: list[str] = []
    find_spec = importlib.util.find_spec

    def recording(name: str, package: str | None = None) -> ModuleSpec | None:
        looked_for.append(name)
        return find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", recording)
    async with api_client(make_settings("http://127.0.0.1:9")) as api:
        assert "fastapi_offline" not in looked_for
        assert (await api.get("/docs-assets/swagger-ui.css")).status_code == 200
        assert (await api.get("/docs-assets/favicon.png")).status_code == 200
    assert looked_for.count("fastapi_offline") == 1
