"""api/answering.py: how many questions the server works on at once."""

from __future__ import annotations

from pathlib import Path

import anyio

from api.answering import answer_limiter
from api.app import create_app
from index.settings import Settings


def test_answer_limiter_is_sized_by_the_setting_and_made_once(tmp_path: Path) -> None:
    # No lifespan and no models: only the limiter's bookkeeping is under test.
    app = create_app(Settings(data_dir=tmp_path, answer_workers=3))

    async def twice() -> tuple[anyio.CapacityLimiter, anyio.CapacityLimiter]:
        return answer_limiter(app), answer_limiter(app)

    first, second = anyio.run(twice)
    assert first is second
    assert first.total_tokens == 3
