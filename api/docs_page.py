"""/docs: Swagger UI over /openapi.json, served from this server's own files.

FastAPI's own /docs page loads Swagger UI from a CDN, which the CSP forbids and an offline machine cannot
reach. Here Swagger UI's dist comes from the swagger-ui-py package (Apache-2.0; it ships swagger-ui's
LICENSE, served at /docs/LICENSE), the page and its start script are ours, and nothing is loaded from
elsewhere. Swagger UI 5 is needed: 4.x cannot render FastAPI's OpenAPI 3.1 document. The pages get the
app's CSP unchanged (scripts and styles from 'self' only): Swagger UI sets styles through the DOM, which
`style-src 'self'` allows (tests/api/test_docs_page.py watches for violations). The page and its files need
the API token when one is set, as /openapi.json does (the token middleware in api/app.py checks DOCS_PATH
and every path under it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.dependencies import ReaderAccess

DOCS_PATH = "/docs"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>citeqa API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <script src="/docs/swagger-ui-bundle.js" defer></script>
  <script src="/docs/start.js" defer></script>
</head>
<body>
  <div id="swagger-ui"></div>
</body>
</html>
"""

# No validator badge (it would send the document to validator.swagger.io) and no configuration taken from
# the page's query string.
START = """"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  queryConfigEnabled: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""


def swagger_ui_dist() -> Path:
    """The folder of swagger-ui's dist files in the installed swagger-ui-py, found without importing it."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (it is a dependency of citeqa: pip install -e .)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not (folder / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"swagger-ui-py has no swagger-ui-bundle.js in {folder}")
    return folder


def install(app: FastAPI) -> None:
    """Add /docs and its files to the app, outside the OpenAPI document."""
    dist = swagger_ui_dist()
    files = {  # path under /docs: (file, media type)
        "swagger-ui.css": (dist / "swagger-ui.css", "text/css"),
        "swagger-ui-bundle.js": (dist / "swagger-ui-bundle.js", "text/javascript"),
        "LICENSE": (dist / "LICENSE", "text/plain"),
    }

    @app.get(DOCS_PATH, include_in_schema=False, dependencies=[ReaderAccess])
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get(f"{DOCS_PATH}/start.js", include_in_schema=False, dependencies=[ReaderAccess])
    async def start() -> Response:
        return Response(START, media_type="text/javascript")

    for name, (path, media_type) in files.items():
        app.add_api_route(f"{DOCS_PATH}/{name}", _file(path, media_type), methods=["GET"], include_in_schema=False,
                          dependencies=[ReaderAccess], name=f"docs {name}")


def _file(path: Path, media_type: str) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:
        return FileResponse(path, media_type=media_type)

    return serve
