"""index/settings.py: defaults and validation of the CITEQA_* environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from index.settings import Settings


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_data_dir_is_refused_not_taken_as_the_current_folder(
        blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_DATA_DIR", blank)
    with pytest.raises(ValidationError, match="CITEQA_DATA_DIR is set but blank"):
        Settings()
    with pytest.raises(ValidationError, match="CITEQA_DATA_DIR is set but blank"):
        Settings(data_dir=blank)


def test_a_given_data_dir_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_DATA_DIR", str(tmp_path))
    assert Settings().data_dir == tmp_path


def test_chat_limits_are_settings_with_the_old_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.max_chat_messages, defaults.max_chat_chars, defaults.max_message_chars) == (200, 200_000, 20_000)
    monkeypatch.setenv("CITEQA_MAX_CHAT_MESSAGES", "12")
    assert Settings().max_chat_messages == 12
    for name in ("max_chat_messages", "max_chat_chars", "max_message_chars"):
        with pytest.raises(ValidationError, match=name):
            Settings(**{name: 0})
