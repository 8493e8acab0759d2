"""Conventions shared by the commands, so the same concept reads and fails the same everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import typer
from rich.console import Console


def split_names(values: Sequence[str] | None) -> tuple[str, ...]:
    """Names from a repeatable, comma-separated option: ``--datasets a,b --datasets c`` -> ("a", "b", "c")."""
    return tuple(name.strip() for value in values or () for name in value.split(",") if name.strip())


def exit_with_error(error: BaseException, code: int = 1) -> NoReturn:
    """End a command on a user error (bad option, missing file, malformed data): one message on
    stderr, no traceback, a non-zero exit code."""
    Console(stderr=True).print(f"[red]error:[/red] {error}")
    raise typer.Exit(code) from None
