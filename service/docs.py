"""The documentation pages, /docs and /redoc, with their scripts, styles and icon served by this service.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN and their icon from FastAPI's site, so they
stay blank without internet. The assets come from the pinned `fastapi-offline` package instead.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
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


def add_docs(app: FastAPI, *, openapi_url: str) -> None:
    """Serve /docs (Swagger UI) and /redoc (ReDoc) for the document at `openapi_url`, assets included."""
    app.mount(ASSETS_PATH, _Assets(), name="docs-assets")

    @app.get(SWAGGER_UI_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _only_this_service(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_PATH}",
                swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                swagger_ui_parameters=_SWAGGER_UI_PARAMETERS,
            )
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _only_this_service(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
                with_google_fonts=False,
            )
        )
