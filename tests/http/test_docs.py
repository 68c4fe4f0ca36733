"""/docs and /redoc name no outside host: their scripts, styles and icon come from the service itself."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from html import escape
from importlib.machinery import ModuleSpec
from urllib.parse import quote

import pytest

from service.http.doc_pages import redoc_page, swagger_ui_page
from tests.support.helpers import api_client, make_settings

# Every URL a page can load from: src, href, ReDoc's spec-url, and the spec URL handed to Swagger UI.
_REFERENCES = re.compile(r'(?:src|href|spec-url)="([^"]*)"|"url": "([^"]*)"')


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


@pytest.mark.parametrize("page", [swagger_ui_page, redoc_page])
def test_what_a_page_is_given_is_escaped_where_it_is_written(page: Callable[..., str]) -> None:
    """Title and prefix: as the text of an element, inside an attribute, inside a script's string."""
    hostile = "</script><script>alert(1)</script>'\"&<b>"
    html = page(title=hostile, root=hostile, openapi_url="/openapi.json")
    assert "<script>alert(1)" not in html
    assert "<b>" not in html
    assert f"<title>{escape(hostile)}</title>" in html
    assert quote(hostile, safe="/") + "/openapi.json" in html
