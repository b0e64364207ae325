"""/docs: Swagger UI from the server's own files, under the app's CSP, behind the API token when one is set.

In-process for what the server sends; in a real browser (Debian's Chromium, driven by Playwright) against a
real server, with every request elsewhere blocked, for what the page shows.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from api.app import CONTENT_SECURITY_POLICY

# The page is the subject, not the store: the operations it lists are the same on either store.
pytestmark = pytest.mark.embedded_only

API_TOKEN = "api-secret-for-tests"
ASSETS = {"/docs/swagger-ui-bundle.js": "text/javascript", "/docs/start.js": "text/javascript",
          "/docs/swagger-ui.css": "text/css", "/docs/LICENSE": "text/plain"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Swagger UI reports what the CSP refused through this event, which a test reads back.
WATCH_CSP = ("window.__cspViolations = [];"
             "document.addEventListener('securitypolicyviolation',"
             " e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")


class Loads(HTMLParser):
    """What a page loads: script srcs, link hrefs and img srcs, and any inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        attribute = {"script": "src", "link": "href", "img": "src"}.get(tag)
        if attribute and found.get(attribute):
            self.urls.append(str(found[attribute]))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def operations_of(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if method in HTTP_METHODS}


def test_docs_loads_only_local_files_under_the_apps_csp(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY  # the chat page's, unchanged
    assert "script-src 'self';" in page.headers["content-security-policy"]
    loads = Loads()
    loads.feed(page.text)
    assert loads.inline_scripts == 0  # script-src 'self' would refuse it
    local = [url for url in loads.urls if url.startswith("/docs/")]
    assert set(local) == {"/docs/swagger-ui-bundle.js", "/docs/start.js", "/docs/swagger-ui.css"}, loads.urls
    assert set(loads.urls) - set(local) <= {"data:,"}  # the empty favicon, so the browser asks for none
    assert "http://" not in page.text and "https://" not in page.text

    for path, media_type in ASSETS.items():
        asset = client.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["content-type"].split(";")[0] == media_type, path
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "SwaggerUIBundle" in client.get("/docs/swagger-ui-bundle.js").text
    assert "Apache License" in client.get("/docs/LICENSE").text  # swagger-ui's, as its licence asks
    start = client.get("/docs/start.js").text
    assert 'url: "/openapi.json"' in start and "validatorUrl: null" in start


def test_docs_is_not_an_operation(client) -> None:
    spec = client.get("/openapi.json").json()
    assert not [path for path in spec["paths"] if path.startswith("/docs")]
    assert client.get("/redoc").status_code == 404


def test_docs_follows_the_api_token(locked_in_process) -> None:
    anonymous = locked_in_process.client(token=None)
    wrong = locked_in_process.client(token="not-the-token")
    reader = locked_in_process.client(token=API_TOKEN)
    for path in ("/docs", "/docs/", *ASSETS):
        for refused in (anonymous, wrong):
            response = refused.get(path, follow_redirects=False)
            assert response.status_code == 401, (path, response.status_code)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
    for path in ("/docs", *ASSETS):
        assert reader.get(path).status_code == 200, path
    assert anonymous.get("/").status_code == 200  # the chat page stays open; it asks for the token itself


@pytest.mark.slow  # a real server and a real browser
def test_docs_lists_the_operations_with_the_network_blocked(browser, server) -> None:  # type: ignore[no-untyped-def]
    operations = operations_of(httpx.get(f"{server.url}/openapi.json", timeout=30).json())
    assert ("POST", "/v1/ask") in operations and len(operations) >= 10
    own = server.url + "/"
    elsewhere: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def only_the_server(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(own):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.route("**/*", only_the_server)
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: failed.append(f"{request.url} {request.failure}"))
    page.on("response", lambda response: failed.append(f"{response.url} {response.status}")
            if response.status >= 400 else None)
    try:
        response = page.goto(f"{server.url}/docs")
        assert response is not None and response.status == 200
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        page.wait_for_selector(".opblock", timeout=30_000)
        page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {len(operations)}",
                               timeout=30_000)
        shown = page.eval_on_selector_all(
            ".opblock", "blocks => blocks.map(block => ["
                        "block.querySelector('.opblock-summary-method').textContent.trim(),"
                        "block.querySelector('.opblock-summary-path').dataset.path])")
        assert {(method, path) for method, path in shown} == operations
        assert len(shown) == len(operations)
        assert page.evaluate("window.__cspViolations") == []
    finally:
        context.close()
    assert not elsewhere, elsewhere  # nothing was even asked of another host (a CDN)
    assert not failed, failed
    assert not errors, errors
