"""``robust-mllm export-lmms-eval``: lmms-eval task files for a published suite."""

from __future__ import annotations

from pathlib import Path

import typer

from robustbench_mllm.cli.common import console


def export_lmms_eval(
    data: Path = typer.Argument(..., help="The generated folder that was (or will be) published."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo the tasks load, OWNER/NAME."),
    out: Path = typer.Option(..., "--out", help="Folder for the task YAML files and utils.py."),
    prefix: str | None = typer.Option(None, "--prefix", help="Task name prefix (default: the repo name)."),
) -> None:
    """Write one lmms-eval task YAML per variant, a shared template they include, a group task and
    utils.py, so the published suite runs in lmms-eval (`--include_path OUT --tasks PREFIX`)."""
    from robustbench_mllm.publish.lmms_eval import export

    written = export(data, repo_id, out, prefix)
    console.print(f"wrote {len(written)} lmms-eval tasks to {out}")
