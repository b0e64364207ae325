"""The OpenAPI document tells the truth about errors: each status a route answers, with the real body."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.schemas import ErrorBody
from api.settings import Settings

EXPECTED = {
    ("post", "/v1/ask"): {400, 401, 404, 413, 415, 422, 429, 500, 503},
    ("post", "/v1/chat"): {400, 401, 404, 413, 415, 422, 429, 500, 503},
    ("post", "/v1/chat/completions"): {400, 401, 404, 413, 415, 422, 429, 500, 503},
    ("post", "/v1/documents"): {400, 401, 403, 409, 413, 415, 422, 429, 500, 503},
    ("get", "/v1/documents"): {401, 429, 500, 503},
    ("get", "/v1/documents/{document_id}"): {401, 404, 422, 429, 500, 503},
    ("delete", "/v1/documents/{document_id}"): {401, 403, 404, 422, 429, 500, 503},
}


def test_every_error_status_is_documented_with_the_error_body(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings.of(data_dir=tmp_path)))
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(spec)  # FastAPI's {"detail"} body is never what we send
    error_ref = "#/components/schemas/ErrorBody"
    assert spec["components"]["schemas"]["ErrorBody"]["properties"]["error"]["$ref"].endswith("ErrorDetail")
    for (method, path), statuses in EXPECTED.items():
        responses = spec["paths"][path][method]["responses"]
        errors = {int(status) for status in responses if int(status) >= 400}
        assert errors == statuses, (method, path, sorted(errors))
        for status in statuses:
            documented = responses[str(status)]
            assert documented["content"]["application/json"]["schema"]["$ref"] == error_ref, (path, status)
            assert documented["description"], (path, status)


def test_an_error_answered_matches_the_documented_body(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings.of(data_dir=tmp_path)))
    for response in (client.post("/v1/ask", json={"question": "Who?"}),  # 503 not_ready: no models
                     client.post("/v1/ask", content=b"{", headers={"content-type": "application/json"}),
                     client.post("/v1/ask", content=b"x", headers={"content-type": "text/plain"})):
        assert response.status_code >= 400
        ErrorBody.model_validate(response.json())
