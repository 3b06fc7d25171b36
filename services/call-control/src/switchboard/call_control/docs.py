"""The API docs at `/docs`: Swagger UI served from the service itself, so the page works without the internet.

The Swagger UI files come from the `swagger-ui-bundle-v2` wheel (the dist files of swagger-ui 5, which reads
OpenAPI 3.1), mounted at `/docs/assets`; the page references nothing else.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # a wheel of files, untyped

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"


def add_docs(app: FastAPI) -> None:
    """Serve the Swagger UI page at `/docs` and its files at `/docs/assets` (build the app with `docs_url=None`)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a prefix, every URL of the page keeps that prefix.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - docs",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            # No badge from the public validator: the page asks nothing of another host.
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False)
