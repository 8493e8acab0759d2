"""``robust-mllm publish`` and ``robust-mllm export-lmms-eval``."""

from __future__ import annotations

from pathlib import Path

import typer

from robustbench_mllm.cli_conventions import exit_with_error


def publish(
    generated: Path = typer.Argument(..., help="A `robust-mllm generate` output folder."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo, OWNER/NAME."),
    private: bool = typer.Option(False, "--private", help="Create the repo as private."),
    dry_run: Path | None = typer.Option(
        None, "--dry-run", help="Write what would be uploaded into this folder and stop."),
    pretty_name: str | None = typer.Option(None, "--pretty-name", help="Title of the dataset card."),
) -> None:
    """Publish a generated suite as one Hub dataset repo: one config per variant (split `test`,
    images embedded), with a dataset card. The token is read from HF_TOKEN only."""
    from rich.console import Console
    from rich.table import Table

    from robustbench_mllm.publish.hub import MissingTokenError, Staged
    from robustbench_mllm.publish.hub import publish as run_publish

    console = Console()
    try:
        with console.status("staging" if dry_run else "staging and uploading"):
            result = run_publish(generated, repo_id, private=private, dry_run=dry_run, pretty_name=pretty_name)
    except MissingTokenError as exc:
        exit_with_error(exc, 2)
    except (FileNotFoundError, ValueError) as exc:  # bad folder, manifest mismatch, bad repo id
        exit_with_error(exc)
    if isinstance(result, Staged):
        table = Table(title=f"Dry run: {repo_id} staged in {result.folder}")
        for column in ("config", "rows", "file"):
            table.add_column(column)
        for config in result.configs:
            table.add_row(config.name, str(config.rows), config.path_in_repo)
        console.print(table)
    else:
        console.print(f"uploaded to https://huggingface.co/datasets/{repo_id} ({result})")


def export_lmms_eval(
    generated: Path = typer.Argument(..., help="The generated folder that was (or will be) published."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo the tasks load, OWNER/NAME."),
    out: Path = typer.Option(..., "--out", help="Folder for the task YAML files and utils.py."),
    prefix: str | None = typer.Option(None, "--prefix", help="Task name prefix (default: the repo name)."),
) -> None:
    """Write one lmms-eval task YAML per variant, a shared template they include, a group task and
    utils.py, so the published suite runs in lmms-eval (`--include_path OUT --tasks PREFIX`)."""
    from rich.console import Console

    from robustbench_mllm.publish.lmms_eval import export

    console = Console()
    try:
        written = export(generated, repo_id, out, prefix)
    except (FileNotFoundError, ValueError) as exc:
        exit_with_error(exc)
    console.print(f"wrote {len(written)} lmms-eval tasks to {out}")
