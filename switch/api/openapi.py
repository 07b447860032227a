"""The OpenAPI document as the server behaves, and ``/docs`` that works offline.

FastAPI writes most of the document from the routes; :func:`finish_openapi` adds what it
cannot know: the error answers every ``/api/v1`` operation can give (401 without a
valid token, 400 for a body that is not JSON, 413 for a body over the limit, 422 for
invalid input, 503 when a channel or the store cannot take it now; 404 where a path
names an id), all with the one error body, instead of FastAPI's own 422 schema.

``/docs`` is Swagger UI served from the ``fastapi-offline`` package's copy of its
assets, never from a CDN: the box may have no internet.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from switch.api.schemas import ErrorBody

ASSETS = "/docs/assets"
_WHY = {
    400: "the body is not JSON (`malformed_json`)",
    401: "missing or invalid bearer token, or no signed-in session (`unauthorized`)",
    403: (
        "this needs a technician token, your role may not do this (`forbidden`), or the "
        "session's X-CSRF-Token is missing (`csrf_failed`)"
    ),
    404: "no such id (`not_found`)",
    409: "the request conflicts with the current state",
    413: "the body is over 64 KiB (`too_large`)",
    422: "invalid input: a field, a parameter, or a value such as a phone number",
    429: "too many tries: wait (`Retry-After`)",
    503: "a channel or the store cannot take this now; retry (`Retry-After`)",
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def finish_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if path.startswith("/api/v1"):
                wanted = {401, 403, 422, 503}
                if "requestBody" in operation:
                    wanted |= {400, 413}
                if "{" in path:
                    wanted.add(404)
                for code in wanted:
                    responses.setdefault(str(code), {})
            for key, response in responses.items():
                if key[0] in "45":
                    response["description"] = _WHY.get(int(key), response.get("description"))
                    response["content"] = {"application/json": {"schema": _ERROR_REF}}
    return doc


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = finish_openapi(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _assets_dir() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")  # its files only; never imported
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the fastapi-offline package (Swagger UI assets) is missing")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI with its scripts and styles served by the switch itself."""
    app.mount(ASSETS, StaticFiles(directory=_assets_dir()), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )
