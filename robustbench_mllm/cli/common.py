"""What every command shares: one error -> one line + exit code, name lists, the consoles.

``reported`` wraps each command (``cli/app.py`` applies it to all of them), so no command catches
errors of its own: a ``RobustMllmError`` ends as ``error: <message>`` on stderr with its
``exit_code`` (2 for a mistake in the input or the settings, 1 for a failure while working). A
library message names settings as backticked parameter names (`batch_size`); here each one the
running command has becomes its flag (``--batch-size``).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.models import OptionInfo

from robustbench_mllm.errors import RobustMllmError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
_SETTING = re.compile(r"`([a-z][a-z0-9_]*)`")


def split_names(values: Sequence[str] | None) -> tuple[str, ...]:
    """Names from a repeatable, comma-separated option: ``--datasets a,b --datasets c`` -> ("a", "b", "c")."""
    return tuple(name.strip() for value in values or () for name in value.split(",") if name.strip())


def option_flags(command: Callable[..., Any]) -> dict[str, str]:
    """Parameter name -> its long flag (``batch_size`` -> ``--batch-size``, ``learning_rate`` ->
    ``--lr``), read from the typer options in ``command``'s signature."""
    flags = {}
    for name, parameter in inspect.signature(command).parameters.items():
        if isinstance(parameter.default, OptionInfo):
            declared = [d for d in parameter.default.param_decls or () if d.startswith("--")]
            flags[name] = declared[0].split("/")[0] if declared else "--" + name.replace("_", "-")
    return flags


def user_message(error: BaseException, flags: Mapping[str, str]) -> str:
    """The error's message with each backticked setting in ``flags`` shown as its flag."""
    return _SETTING.sub(lambda m: flags.get(m.group(1), m.group(0)), str(error))


def exit_with_error(error: BaseException, code: int | None = None, flags: Mapping[str, str] | None = None) -> NoReturn:
    """One line on stderr, no traceback; the exit code is the error's own unless ``code`` is given."""
    message = escape(user_message(error, flags or {}))
    Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code if code is not None else getattr(error, "exit_code", 1)) from None


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """``command`` with its deliberate errors turned into one line on stderr and an exit code."""

    flags = option_flags(command)

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except RobustMllmError as exc:
            exit_with_error(exc, flags=flags)
        except (ValueError, KeyError, FileNotFoundError) as exc:  # a mistake a plug-in reported untyped
            exit_with_error(exc, 2, flags)
        except OSError as exc:  # the disk, a permission, the network: a failure while working
            exit_with_error(exc, 1, flags)

    return run
