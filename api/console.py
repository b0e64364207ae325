"""The command line's output: one console for results, one for errors, and `friendly` for known failures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from index.base import StoreMismatchError, UnknownDocumentError
from index.documents import DocumentError

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(command: F) -> F:
    """Print known failures as one clear line and exit 1, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ValidationError as error:
            errors.print(f"[red]error:[/red] {_problems(error)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except (DocumentError, StoreMismatchError, UnknownDocumentError, FileNotFoundError, ValueError,
                PermissionError, IsADirectoryError, ConnectionError) as error:
            errors.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _problems(error: ValidationError) -> str:
    """One line naming each bad setting by its environment variable, not pydantic's multi-line report."""
    if not error.title.endswith("Settings"):
        return str(error)
    named = []
    for problem in error.errors():
        name = str(problem["loc"][-1]).upper() if problem["loc"] else ""
        variable = name if name.startswith("CITEQA_") else f"CITEQA_{name}"
        message = str(problem["msg"]).removeprefix("Value error, ")
        named.append(message if variable in message else f"{variable}: {message}")
    return "; ".join(named)


