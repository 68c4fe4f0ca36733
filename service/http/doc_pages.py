"""The documentation pages, /docs and /redoc, with their scripts, styles and icon served by this service.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN and their icon from FastAPI's site, so they
stay blank without internet. The assets come from the pinned `fastapi-offline` package instead. The pages
are written here too: FastAPI's place the URLs they are given into HTML and JavaScript as they are, and the
prefix a URL starts with (`root_path`) comes from the request (on Lambda, the stage or the event's path).
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ASSETS_PATH = "/docs-assets"
SWAGGER_UI_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
REDOC_PATH = "/redoc"
PAGES = (SWAGGER_UI_PATH, OAUTH2_REDIRECT_PATH, REDOC_PATH)
# Swagger UI would send the spec to an online validator for a badge; nothing may leave this service.
_SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# ReDoc's bundle always shows a logo from its vendor's CDN: the browser is told to fetch nothing that
# this service does not serve. Both pages start with an inline script and style with inline styles;
# ReDoc's search runs in a worker made from a blob.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class _Assets:
    """The assets' files, found on the first request for one: most processes (a Lambda's above all) never
    serve them and need not look for them when they start."""

    def __init__(self) -> None:
        self._files: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._files is None:
            from starlette.staticfiles import StaticFiles

            self._files = StaticFiles(packages=[("fastapi_offline", "static")])
        await self._files(scope, receive, send)


def _only_this_service(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page


def _url(root: str, path: str) -> str:
    """A path of this service under `root` (decoded, as ASGI gives it) as a URL: `root` percent-encoded."""
    return quote(root, safe="/") + path


def _attribute(text: str) -> str:
    """`text` inside a double-quoted HTML attribute, or as an element's text."""
    return html.escape(text, quote=True)


def _script_value(value: Any) -> str:
    """`value` as a JavaScript literal inside a <script> element: JSON (all of it ASCII), with the characters
    that could close the element or open a comment there escaped."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def swagger_ui_page(*, title: str, root: str, openapi_url: str) -> str:
    """The Swagger UI page for the document at `openapi_url`, everything loaded from under `root`."""
    config = {"url": _url(root, openapi_url), **swagger_ui_default_parameters, **_SWAGGER_UI_PARAMETERS}
    entries = "".join(f"    {_script_value(key)}: {_script_value(value)},\n" for key, value in config.items())
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{_attribute(_url(root, f"{ASSETS_PATH}/swagger-ui.css"))}">
<link rel="shortcut icon" href="{_attribute(_url(root, f"{ASSETS_PATH}/favicon.png"))}">
<title>{_attribute(title)}</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_attribute(_url(root, f"{ASSETS_PATH}/swagger-ui-bundle.js"))}"></script>
<script>
const ui = SwaggerUIBundle({{
{entries}    oauth2RedirectUrl: window.location.origin + {_script_value(_url(root, OAUTH2_REDIRECT_PATH))},
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}});
</script>
</body>
</html>
"""


def redoc_page(*, title: str, root: str, openapi_url: str) -> str:
    """The ReDoc page for the document at `openapi_url`, everything loaded from under `root`."""
    return f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_attribute(title)}</title>
<link rel="shortcut icon" href="{_attribute(_url(root, f"{ASSETS_PATH}/favicon.png"))}">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript to show the documentation.</noscript>
<redoc spec-url="{_attribute(_url(root, openapi_url))}"></redoc>
<script src="{_attribute(_url(root, f"{ASSETS_PATH}/redoc.standalone.js"))}"></script>
</body>
</html>
"""


def add_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve /docs (Swagger UI) and /redoc (ReDoc) for the document at `openapi_url`, assets included."""
    app.mount(ASSETS_PATH, _Assets(), name="docs-assets")

    @app.get(SWAGGER_UI_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = swagger_ui_page(title=f"{app.title} - Swagger UI", root=root, openapi_url=openapi_url)
        return _only_this_service(HTMLResponse(page))

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        # A fixed page: nothing of the request is written into it.
        return _only_this_service(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = redoc_page(title=f"{app.title} - ReDoc", root=root, openapi_url=openapi_url)
        return _only_this_service(HTMLResponse(page))
