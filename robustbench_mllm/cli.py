"""The ``robust-mllm`` command line. Thin: each command lives beside the code it drives and
imports heavy libraries (torch, transformers, datasets) only inside its body."""

from __future__ import annotations

from enum import Enum

import typer
from rich.console import Console
from rich.table import Table

from robustbench_mllm import __version__
from robustbench_mllm.judges import cli as judge_cli
from robustbench_mllm.publish import publish_cli
from robustbench_mllm.reports import gallery, report_cli
from robustbench_mllm.runners import emid_cli, evaluate_cli, generate_cli, represent_cli
from robustbench_mllm.sources import published_shift
from robustbench_mllm.train import cli as train_cli

app = typer.Typer(
    name="robust-mllm",
    help="Robustness benchmark suite and perturbation generator for multimodal LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()


class Listing(str, Enum):
    perturbations = "perturbations"
    models = "models"
    sources = "sources"
    judges = "judges"


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"robust-mllm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True),
) -> None:
    """Robustness benchmark suite and perturbation generator for multimodal LLMs."""


@app.command("list")
def list_registry(what: Listing = typer.Argument(..., help="Which registry to list.")) -> None:
    """List registered perturbations (with per-severity parameters), models, sources or judges."""
    from robustbench_mllm.registries import load_registry

    registry = load_registry(what.value)
    if what is Listing.perturbations:
        table = Table(title="Perturbations")
        for column in ("name", "modality", "category", "s1", "s2", "s3", "s4", "s5"):
            table.add_column(column, overflow="fold")
        for name, pert in registry.items():
            table.add_row(name, pert.modality, pert.category, *(pert.params(s) for s in range(1, 6)))
    else:
        table = Table(title=what.value.capitalize())
        table.add_column("name")
        table.add_column("description", overflow="fold")
        for name, entry in registry.items():
            doc = (getattr(entry, "__doc__", None) or "").strip().splitlines()
            table.add_row(name, doc[0] if doc else "")
    console.print(table)


# Command modules stay light at import time (tested): each body imports torch, datasets etc.
app.command("generate")(generate_cli.generate)
app.command("gallery")(gallery.gallery)
app.command("import-shifted")(published_shift.import_shifted_cli)
app.command("evaluate")(evaluate_cli.evaluate)
app.command("merge")(evaluate_cli.merge)
app.command("judge")(judge_cli.judge)
app.command("emid")(emid_cli.emid)
app.command("represent")(represent_cli.represent)
app.command("report")(report_cli.report)
app.command("publish")(publish_cli.publish)
app.command("export-lmms-eval")(publish_cli.export_lmms_eval)
app.command("train")(train_cli.train)


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
