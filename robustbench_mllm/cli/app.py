"""The ``robust-mllm`` typer app: every command registered in one place, each wrapped by
``common.reported`` (one line and an exit code per error). Command modules import heavy
libraries (torch, transformers, datasets) only inside their bodies, so ``--help`` is instant."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.console import Console

from robustbench_mllm import __version__
from robustbench_mllm.cli import (
    emid,
    evaluate,
    export_lmms_eval,
    gallery,
    generate,
    import_shifted,
    judge,
    merge,
    publish,
    report,
    represent,
    train,
)
from robustbench_mllm.cli import list as list_command
from robustbench_mllm.cli import run as run_command
from robustbench_mllm.cli.common import reported

app = typer.Typer(
    name="robust-mllm",
    help="Robustness benchmark suite and perturbation generator for multimodal LLMs.",
    no_args_is_help=True,
    add_completion=False,
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
    "judge": judge.judge,
    "emid": emid.emid,
    "represent": represent.represent,
    "report": report.report,
    "run": run_command.run,
    "publish": publish.publish,
    "export-lmms-eval": export_lmms_eval.export_lmms_eval,
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
