"""Bad input gets a clear 4xx JSON error, never a 500, and nothing stored changes; tokens are enforced.

In-process, except the bodies over the limit that stream or are sent by urllib over a real socket.
"""

from __future__ import annotations

import httpx
import pytest

# Input refused and tokens checked before any store access, and bodies over the limit: the same on either
# store (an unknown document, which the store decides, is tested on both in test_ask.py).
pytestmark = pytest.mark.embedded_only

ADMIN = {"Authorization": "Bearer admin-secret-for-tests"}


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
    return body["error"]


def snapshot(client: httpx.Client) -> list:
    return client.get("/v1/documents").json()["documents"]


CASES = [
    ("malformed json", dict(content=b'{"question": ', headers={"Content-Type": "application/json"}), 400,
     "malformed_json"),
    ("missing field", dict(json={}), 422, "invalid_request"),
    ("wrong type", dict(json={"question": 42}), 422, "invalid_request"),
    ("empty question", dict(json={"question": "   "}), 422, "empty_question"),
    ("too long", dict(json={"question": "why " * 300}), 422, "question_too_long"),
    ("top_k too big", dict(json={"question": "who?", "top_k": 500}), 422, "invalid_request"),
    ("top_k zero", dict(json={"question": "who?", "top_k": 0}), 422, "invalid_request"),
    ("unsupported media", dict(content=b"question=who", headers={"Content-Type": "text/plain"}), 415,
     "unsupported_media_type"),
]


@pytest.mark.parametrize(("name", "request_args", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_ask_errors(client, name: str, request_args: dict, status: int, code: str | None) -> None:
    before = snapshot(client)
    error = error_of(client.post("/v1/ask", **request_args), status)
    if code:
        assert error["code"] == code
    assert snapshot(client) == before


def test_unknown_role(client) -> None:
    error = error_of(client.post("/v1/chat", json={"messages": [{"role": "wizard", "content": "hi"}]}), 422)
    assert "role" in error["message"]
    error = error_of(client.post("/v1/chat/completions", json={"model": "citeqa", "messages": [
        {"role": "wizard", "content": "hi"}]}), 422)
    assert error["code"] == "unknown_role"


def test_a_blank_chat_question_is_refused(client) -> None:
    error = error_of(client.post("/v1/chat", json={"messages": [{"role": "user", "content": " \n "}]}), 422)
    assert error["code"] == "empty_question"
    error = error_of(client.post("/v1/chat/completions", json={"model": "citeqa", "messages": [
        {"role": "user", "content": " \n "}]}), 422)
    assert error["code"] == "empty_question"


def test_oversized_body(client) -> None:
    before = snapshot(client)
    error = error_of(client.post("/v1/documents", json={"text": "x" * (6 * 1024 * 1024)}), 413)
    assert error["code"] == "payload_too_large"
    assert snapshot(client) == before


@pytest.mark.parametrize(("payload", "code", "status"), [
    ({"text": "   "}, "empty_document", 422),
    ({"text": "fine text here.", "id": "bad id!"}, "invalid_document_id", 422),
    ({"text": "\x00\x01\x02" * 100}, "binary_content", 422),
    ({"title": "no text"}, "invalid_request", 422),
])
def test_bad_documents_change_nothing(client, payload: dict, code: str, status: int) -> None:
    before = snapshot(client)
    assert error_of(client.post("/v1/documents", json=payload), status)["code"] == code
    assert snapshot(client) == before


def photo_pdf(size: int) -> bytes:
    """A one-page PDF of about `size` bytes: a line of text and a photograph of noise (incompressible)."""
    import io
    import os

    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    side = int((size / 3) ** 0.5)
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer)
    drawing.drawImage(ImageReader(Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))), 72, 300, 200, 200)
    drawing.setFont("Helvetica", 12)
    drawing.drawString(72, 600, "The photograph shows the harbour at low tide.")
    drawing.save()
    return buffer.getvalue()


def test_a_file_upload_may_be_larger_than_other_bodies_up_to_its_own_limit(client) -> None:
    from api.settings import Settings

    limits = Settings().server  # what the app under test runs
    big = photo_pdf(6 * 1024 * 1024)  # over the limit of other bodies, under the upload one
    assert limits.max_body_bytes < len(big) < limits.max_upload_bytes
    response = client.post("/v1/documents", files={"file": ("photo.pdf", big, "application/pdf")},
                           params={"replace": True})
    assert response.status_code == 201, response.text
    before = snapshot(client)
    too_big = b"x" * (limits.max_upload_bytes + 1)
    error = error_of(client.post("/v1/documents", files={"file": ("huge.txt", too_big, "text/plain")}), 413)
    assert error["code"] == "payload_too_large" and "CITEQA_MAX_UPLOAD_BYTES" in error["message"]
    assert snapshot(client) == before


def test_unsupported_upload_type(client) -> None:
    before = snapshot(client)
    response = client.post("/v1/documents", files={"file": ("paper.odt", b"odt bytes", "application/octet-stream")})
    assert error_of(response, 415)["code"] == "unsupported_file_type"
    response = client.post("/v1/documents", files={"file": ("paper.pdf", b"%PDF-1.4 stuff", "application/pdf")})
    assert error_of(response, 422)["code"] == "unreadable_document"  # a PDF by its header, but broken
    response = client.post("/v1/documents", content=b"plain", headers={"Content-Type": "text/plain"})
    assert error_of(response, 415)["code"] == "unsupported_media_type"
    assert snapshot(client) == before


def test_writes_need_the_admin_token(in_process, client) -> None:
    before = snapshot(client)
    anonymous = in_process.client(token=None)
    assert error_of(anonymous.post("/v1/documents", json={"text": "Hello there."}), 401)["code"] == "unauthorized"
    assert error_of(anonymous.delete("/v1/documents/anything"), 401)
    assert error_of(in_process.client(token="wrong").post("/v1/documents", json={"text": "Hello there."}), 401)
    assert snapshot(client) == before


def test_api_token_guards_every_v1_route(locked_in_process) -> None:
    anonymous = locked_in_process.client(token=None)
    assert error_of(anonymous.post("/v1/ask", json={"question": "who?"}), 401)["code"] == "unauthorized"
    assert error_of(anonymous.get("/v1/documents"), 401)
    # Before the body is read: without the token a malformed body or a wrong media type is not told apart.
    assert error_of(anonymous.post("/v1/ask", content=b"\x00", headers={"content-type": "application/json"}), 401)
    assert error_of(anonymous.post("/v1/chat", content=b"x", headers={"content-type": "text/plain"}), 401)
    assert anonymous.get("/healthz").status_code == 200
    assert error_of(locked_in_process.client(token="nope").get("/v1/documents"), 401)
    client = locked_in_process.client(token="api-secret-for-tests")
    assert client.get("/v1/documents").status_code == 200
    error = error_of(client.post("/v1/documents", json={"text": "Hello there."}), 403)
    assert error["code"] == "writes_disabled" and "CITEQA_ADMIN_TOKEN" in error["message"]


LONE_SURROGATES = [  # raw bodies: a JSON escape is how a lone surrogate arrives
    ("/v1/ask", b'{"question": "who is \\ud83d?"}'),
    ("/v1/ask", b'{"question": "who?", "document_ids": ["\\ud83d"]}'),
    ("/v1/chat", b'{"messages": [{"role": "user", "content": "who is \\ud83d?"}]}'),
    ("/v1/chat", b'{"messages": [{"role": "user", "content": "who?"}, {"role": "assistant", "content": "\\udc00"},'
                 b' {"role": "user", "content": "what did he say?"}]}'),
    ("/v1/chat/completions", b'{"model": "citeqa", "messages": [{"role": "user", "content": "who is \\ud83d?"}]}'),
    ("/v1/chat/completions", b'{"model": "\\ud83d", "messages": [{"role": "user", "content": "who?"}]}'),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "\\ud83d"}]}]}'),
    ("/v1/documents", b'{"text": "Fine text.", "metadata": {"k": "\\ud83d"}}'),
    ("/v1/documents", b'{"text": "Fine text.", "metadata": {"\\ud83d": "v"}}'),
    ("/v1/documents", b'{"text": "Fine \\ud83d text."}'),
    ("/v1/documents", b'{"text": "Fine text.", "title": "\\ud83d"}'),
]


@pytest.mark.parametrize(("route", "body"), LONE_SURROGATES, ids=[f"{r} {b[:60]!r}" for r, b in LONE_SURROGATES])
def test_lone_surrogates_are_refused_and_nothing_is_stored(client, route: str, body: bytes) -> None:
    before = snapshot(client)
    response = client.post(route, content=body, headers={"Content-Type": "application/json"})
    error = error_of(response, 422)
    assert "surrogate" in error["message"]
    assert client.get("/v1/documents").status_code == 200
    assert snapshot(client) == before


UNREADABLE_BODIES = {
    "not utf-8": b'{"question": "caf\xe9?", "text": "caf\xe9.", "messages": [{"role": "user", "content": "caf\xe9?"}]}',
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "deep inside": b'{"text": "Fine text.", "question": "who?", "metadata": ' + b'{"a": ' * 5_000 + b"1"
                   + b"}" * 5_000 + b"}",
}


@pytest.mark.parametrize("route", ["/v1/ask", "/v1/chat", "/v1/chat/completions", "/v1/documents"])
@pytest.mark.parametrize("name", list(UNREADABLE_BODIES))
def test_unreadable_json_is_a_400(client, route: str, name: str) -> None:
    before = snapshot(client)
    response = client.post(route, content=UNREADABLE_BODIES[name], headers={"Content-Type": "application/json"})
    assert error_of(response, 400)["code"] == "malformed_json"
    assert snapshot(client) == before


@pytest.mark.slow
@pytest.mark.parametrize("route", ["/v1/ask", "/v1/chat", "/v1/documents"])
def test_a_chunked_body_over_the_limit_is_a_413(server, route: str) -> None:  # uvicorn reads the chunks
    def chunks():  # no Content-Length: the size is only known while it streams
        for _ in range(6):
            yield b" " * (1024 * 1024)

    with server.client() as client:
        before = snapshot(client)
        response = client.post(route, content=chunks(), headers={"Content-Type": "application/json"})
        assert error_of(response, 413)["code"] == "payload_too_large"
        assert snapshot(client) == before


@pytest.mark.slow
def test_urllib_sees_the_413_of_a_large_upload(server) -> None:  # the body is drained, so no reset on the socket
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{server.url}/v1/documents", data=b" " * (15 * 1024 * 1024), method="POST",
                                     headers={**ADMIN, "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=120)
    assert raised.value.code == 413
    assert json.loads(raised.value.read())["error"]["code"] == "payload_too_large"


def test_monitoring_and_the_api_description_follow_the_api_token(locked_in_process) -> None:
    anonymous = locked_in_process.client(token=None)
    for path in ("/metrics", "/openapi.json"):
        assert error_of(anonymous.get(path), 401)["code"] == "unauthorized"
    assert anonymous.get("/healthz").status_code == 200  # probes stay open
    assert anonymous.get("/readyz").status_code == 200
    client = locked_in_process.client(token="api-secret-for-tests")
    assert "citeqa_http_requests_total" in client.get("/metrics").text
    assert "/v1/ask" in client.get("/openapi.json").json()["paths"]


def test_the_docs_page_needs_no_cdn(client) -> None:
    # /docs is Swagger UI from the server's own files (tests/api/test_docs_page.py); FastAPI's /redoc, which
    # loads ReDoc from a CDN, is not served.
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200
    assert error_of(client.get("/redoc"), 404)
    assert "/v1/ask" in client.get("/openapi.json").json()["paths"]
