"""``robust-mllm merge``: join the run folders of ``evaluate --shard i/n`` into one run."""

from __future__ import annotations

from pathlib import Path

import typer

from robustbench_mllm.cli.common import console
from robustbench_mllm.cli.evaluate import summary_table


def merge(
    runs: list[Path] = typer.Argument(..., help="Run folders of the shards."),
    out: Path = typer.Option(..., "--out", help="Merged run folder (new)."),
) -> None:
    """Join the run folders of `evaluate --shard i/n` into one run and score it."""
    from robustbench_mllm.runners.evaluate.merge import merge_runs

    outcome = merge_runs(runs, out)
    console.print(summary_table(outcome.results))
    console.print(
        f"{outcome.predictions} predictions merged into {out}; {outcome.duplicates} duplicate ids dropped"
        + (f" ({outcome.conflicts} with differing answers)" if outcome.conflicts else "")
    )
