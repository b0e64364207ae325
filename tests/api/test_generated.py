"""Generated API tests: schemathesis sends requests made from the OpenAPI document to a real server.

Every answer must be no 5xx and agree with the document: a status it lists for the route, that route's
content type and headers, a body matching the listed schema, and a refusal for a request the document
calls invalid. Run against a server that needs the API token (with the admin token, which also writes
and deletes; with the API token; with none) and against one that does not (with no token).

Cases are drawn with schemathesis's Hypothesis strategies rather than its pytest plugin, whose
parametrize breaks on pytest 9.2 (it sets `Function._nodeid`, which pytest no longer has).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

# Embedded only, for time (about a minute per run here): these check the HTTP layer's contract; input that
# one store takes and the other cannot (NUL in a title or metadata) is tested on both in
# test_documents_and_health.py.
pytestmark = pytest.mark.embedded_only

ADMIN_TOKEN = "admin-secret-for-tests"  # as tests/api/conftest.py starts the servers
API_TOKEN = "api-secret-for-tests"

# "Schema-valid request rejected" is left out: a 422 for a request the document allows is itself listed
# (a chat whose last message is the assistant's, a document id already taken, an unsupported file type:
# rules no JSON Schema states), so it never contradicts the document.
EXCLUDED = [positive_data_acceptance]
# Examples per route, mode and run: 4 runs stay near a minute on 2 cores (asks are answered for real).
# No shrinking: each example is a real request, and the first failing one is reported as it was sent.
GENERATED = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                     phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def generate(url: str, token: str | None, expect: Callable[[Any, Any], None] = lambda case, response: None) -> int:
    """Send generated requests (valid and invalid ones) to every route of the server's own document;
    the number sent."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", headers=bearer(API_TOKEN))
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @GENERATED
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case: Any) -> None:
                nonlocal sent
                sent += 1
                response = case.call_and_validate(headers=bearer(token), excluded_checks=EXCLUDED, timeout=60)
                expect(case, response)

            try:
                send()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise  # only a route that takes nothing (/healthz) has no invalid request to make
    return sent


@pytest.mark.slow
def test_with_the_admin_token(locked_server: Any) -> None:
    assert generate(locked_server.url, ADMIN_TOKEN) > 50


@pytest.mark.slow
def test_with_the_api_token(locked_server: Any) -> None:
    def reads_only(case: Any, response: Any) -> None:
        if case.method in ("POST", "DELETE") and case.path.startswith("/v1/documents"):
            assert response.status_code != 201 and response.status_code != 204, response.text

    generate(locked_server.url, API_TOKEN, reads_only)


@pytest.mark.slow
def test_without_a_token_where_one_is_needed(locked_server: Any) -> None:
    def refused(case: Any, response: Any) -> None:
        if case.path.startswith("/v1/"):
            assert response.status_code == 401, response.text

    generate(locked_server.url, None, refused)


@pytest.mark.slow
def test_without_a_token_where_none_is_needed(server: Any) -> None:
    """The shared server's store is not written: without the admin token every write is refused."""
    def no_writes(case: Any, response: Any) -> None:
        if case.method in ("POST", "DELETE") and case.path.startswith("/v1/documents"):
            assert response.status_code not in (201, 204), response.text

    generate(server.url, None, no_writes)
