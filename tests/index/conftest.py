"""The store, retrieval and crash tests run on both backends: embedded, and PostgreSQL + Milvus."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
