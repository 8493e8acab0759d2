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
    protocol: str | None = typer.Option(
        None, "--protocol", help="Protocol whose prompts the tasks send (default: the one recorded with the data)."),
) -> None:
    """Write one lmms-eval task YAML per variant, a shared template they include, group tasks that
    print the mean over variants, and a self-contained utils.py (it needs only lmms-eval), so the
    published suite runs in lmms-eval: `lmms-eval --include_path OUT --tasks PREFIX ...`. Score its
    open-ended answers with `robust-mllm import-lmms-eval` then `robust-mllm judge`."""
    from robustbench_mllm.publish.lmms_eval import export

    exported = export(data, repo_id, out, prefix, protocol)
    console.print(f"wrote {len(exported.tasks)} lmms-eval tasks to {out}; run them all with "
                  f"`--include_path {out} --tasks {exported.group}`")
