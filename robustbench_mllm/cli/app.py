"""The ``robust-mllm`` typer app: every command registered in one place, each wrapped by
``common.reported`` (one line and an exit code per error). Command modules import heavy
libraries (torch, transformers, datasets) only inside their bodies, so ``--help`` is instant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from robustbench_mllm import __version__
from robustbench_mllm.cli import (
    emid,
    evaluate,
    export_lmms_eval,
    gallery,
    generate,
    import_lmms_eval,
    import_shifted,
    judge,
    merge,
    publish,
    references,
    report,
    represent,
    train,
)
from robustbench_mllm.cli import list as list_command
from robustbench_mllm.cli import run as run_command
from robustbench_mllm.cli.common import reported, usage_errors_as_lines


class CommandGroup(TyperGroup):
    """The app's command group: a usage mistake anywhere (unknown flag or command, a missing or
    out-of-range value) ends as one ``error:`` line and a pointer to ``-h``, exit code 2."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with usage_errors_as_lines():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with usage_errors_as_lines():
            return super().invoke(ctx)


app = typer.Typer(
    name="robust-mllm",
    cls=CommandGroup,
    help="Robustness benchmark suite and perturbation generator for multimodal LLMs.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)


def _version_callback(value: bool) -> None:
    if value:
        Console().print(f"robust-mllm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True),
) -> None:
    """Robustness benchmark suite and perturbation generator for multimodal LLMs."""


COMMANDS: dict[str, Callable[..., None]] = {
    "list": list_command.list_registry,
    "generate": generate.generate,
    "gallery": gallery.gallery,
    "import-shifted": import_shifted.import_shifted,
    "evaluate": evaluate.evaluate,
    "merge": merge.merge,
    "references": references.references,
    "judge": judge.judge,
    "emid": emid.emid,
    "represent": represent.represent,
    "report": report.report,
    "run": run_command.run,
    "publish": publish.publish,
    "export-lmms-eval": export_lmms_eval.export_lmms_eval,
    "import-lmms-eval": import_lmms_eval.import_lmms_eval,
    "train": train.train,
}
for _name, _command in COMMANDS.items():
    app.command(_name)(reported(_command))


def run() -> None:
    """Console-script entry: ``app`` plus a hint after Ctrl-C (typer exits 130 silently)."""
    try:
        app()
    except SystemExit as exc:
        if exc.code == 130:
            Console(stderr=True).print(
                "[yellow]interrupted[/]: finished work is kept; rerun the same command to continue "
                "(train: add --resume)"
            )
        raise


if __name__ == "__main__":
    run()
