"""What every command shares: one error -> one line + exit code, name lists, the consoles.

``reported`` wraps each command (``cli/app.py`` applies it to all of them), so no command catches
errors of its own: a ``RobustMllmError`` ends as ``error: <message>`` on stderr with its
``exit_code`` (2 for a mistake in the input or the settings, 1 for a failure while working). A
library message names settings as backticked parameter names (`batch_size`); here each one the
running command has becomes its flag (``--batch-size``). An error nobody raised on purpose (a
bug) ends as one line too, asking for ``--debug`` (or ROBUST_MLLM_DEBUG=1), which prints the
traceback. ``usage_errors_as_lines`` does the same for typer's own usage errors (a bad flag, a
value out of range), which click would print as a usage block and a panel.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import traceback
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.models import OptionInfo

try:  # newer typer ships its own copy of click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover
    from click import ClickException, UsageError  # type: ignore[assignment]

from robustbench_mllm.errors import RobustMllmError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
DEBUG_ENV = "ROBUST_MLLM_DEBUG"
# Width of tables and progress when stdout is no terminal (a log file, CI): rich's fallback of 80
# columns would cut variant names; tables only grow as wide as their content needs.
UNCONSTRAINED_WIDTH = 200
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


def cost_text(usage: Mapping[str, Any], how_to_price: str = "--prices FILE") -> str:
    """``~$0.0123`` for a ``UsageMeter.summary()``; a model that billed tokens but is missing
    from the price table is named ("cost unknown for MODEL") instead of counted as $0."""
    models = usage.get("models", {})
    unknown = [name for name, m in models.items()
               if m.get("estimated_cost_usd") is None and m.get("prompt_tokens", 0) + m.get("completion_tokens", 0)]
    known = f"~${usage.get('estimated_cost_usd') or 0.0:.4f}"
    if not unknown:
        return known
    missing = f"cost unknown for {', '.join(unknown)} (not in the price table; give one with {how_to_price})"
    priced = any(m.get("estimated_cost_usd") is not None for m in models.values())
    return f"{known} + {missing}" if priced else missing


def print_error(message: str, hint: str | None = None) -> None:
    """``error: message`` (and a second line, ``hint``) on stderr, never wrapped."""
    stderr = Console(stderr=True, soft_wrap=True)
    stderr.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    if hint:
        stderr.print(escape(hint), highlight=False)


def exit_with_error(error: BaseException, code: int | None = None, flags: Mapping[str, str] | None = None) -> NoReturn:
    """One line on stderr, no traceback; the exit code is the error's own unless ``code`` is given."""
    print_error(user_message(error, flags or {}))
    raise typer.Exit(code if code is not None else getattr(error, "exit_code", 1)) from None


def fit_console_width() -> None:
    """The terminal's width on a terminal ($COLUMNS wins, as rich reads it), else a wide fixed one;
    for our console and rich's global one (which the runners' progress bars use)."""
    import rich

    for shown in (console, rich.get_console()):
        measured = shown.is_terminal or os.environ.get("COLUMNS")
        shown.width = None if measured else UNCONSTRAINED_WIDTH  # type: ignore[assignment]  # None: rich measures


def _debug_option() -> Any:
    return typer.Option(False, "--debug", envvar=DEBUG_ENV, help=f"Show the traceback of an error (or set {DEBUG_ENV}=1).")


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """``command`` with its errors turned into one line on stderr and an exit code, plus the
    ``--debug`` option that prints the traceback as well."""

    flags = option_flags(command)

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        debug = bool(kwargs.pop("debug", False))
        fit_console_width()
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, ClickException):
            raise  # typer's own: usage errors and deliberate exits
        except Exception as exc:
            if debug:
                traceback.print_exc(file=sys.stderr)
            if isinstance(exc, RobustMllmError):
                exit_with_error(exc, flags=flags)
            if isinstance(exc, (ValueError, KeyError, FileNotFoundError)):  # a mistake a plug-in reported untyped
                exit_with_error(exc, 2, flags)
            if isinstance(exc, OSError):  # the disk, a permission, the network: a failure while working
                exit_with_error(exc, 1, flags)
            if debug:
                raise typer.Exit(1) from None
            print_error(f"unexpected {type(exc).__name__}: {exc}",
                        f"this is a bug: rerun with --debug (or {DEBUG_ENV}=1) and report the traceback")
            raise typer.Exit(1) from None

    signature = inspect.signature(command, eval_str=True)
    # typer reads the options from the signature: the command's own, plus --debug
    debug_option = inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=_debug_option(), annotation=bool)
    run.__signature__ = signature.replace(parameters=[*signature.parameters.values(), debug_option])  # type: ignore[attr-defined]
    run.__annotations__ = {**typing.get_type_hints(command), "debug": bool}
    return run


def _allowed_range(param: Any) -> str:
    """`` (allowed: 1 to 100)`` for an option declared with ``min=``/``max=``, else ``""``."""
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is None and high is None:
        return ""
    allowed = f"{low} to {high}" if low is not None and high is not None else (
        f">= {low}" if low is not None else f"<= {high}")
    return f" (allowed: {allowed})"


@contextmanager
def usage_errors_as_lines() -> Iterator[None]:
    """Typer's usage errors (unknown flag, missing or out-of-range value) as ``error: ...`` plus
    where to read the options, exit code 2; click's own print is a usage block and a panel."""
    try:
        yield
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `robust-mllm` alone: the help
            raise
        path = exc.ctx.command_path if exc.ctx is not None else "robust-mllm"
        message = " ".join(exc.format_message().split())  # one line
        print_error(message + _allowed_range(getattr(exc, "param", None)), f"see `{path} -h` for the options")
        raise typer.Exit(2) from None
