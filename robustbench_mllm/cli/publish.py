"""``robust-mllm publish``: a generated suite as one Hub dataset repo, one config per variant."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console


def publish(
    data: Path = typer.Argument(..., help="A `robust-mllm generate` output folder."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo, OWNER/NAME."),
    private: bool = typer.Option(False, "--private", help="Create the repo as private."),
    dry_run: Path | None = typer.Option(
        None, "--dry-run", help="Write what would be uploaded into this folder and stop."),
    pretty_name: str | None = typer.Option(None, "--pretty-name", help="Title of the dataset card."),
) -> None:
    """Publish a generated suite as one Hub dataset repo: one config per variant (split `test`,
    images embedded), with a dataset card. The token is the one huggingface_hub uses: HF_TOKEN, else
    what `hf auth login` stored."""
    from robustbench_mllm.publish.hub import Staged
    from robustbench_mllm.publish.hub import publish as run_publish

    with console.status("staging" if dry_run else "staging and uploading"):
        result = run_publish(data, repo_id, private=private, dry_run=dry_run, pretty_name=pretty_name)
    if isinstance(result, Staged):
        table = Table(title=f"Dry run: {repo_id} staged in {result.folder}")
        for column in ("config", "rows", "file"):
            table.add_column(column)
        for config in result.configs:
            table.add_row(config.name, str(config.rows), config.path_in_repo)
        console.print(table)
    else:
        console.print(f"uploaded to https://huggingface.co/datasets/{repo_id} ({result})")
