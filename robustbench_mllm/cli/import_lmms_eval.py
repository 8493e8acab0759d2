"""``robust-mllm import-lmms-eval``: lmms-eval's logged samples of the exported tasks as a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from robustbench_mllm.cli.common import console
from robustbench_mllm.cli.evaluate import summary_table


def import_lmms_eval(
    samples: list[Path] = typer.Argument(
        ..., help="lmms-eval samples files (`--log_samples`: <date>_samples_<task>.jsonl) of exported tasks."),
    data: Path = typer.Option(..., "--data", help="The generated folder the tasks were exported from."),
    out: Path = typer.Option(..., "--out", help="Run folder to write (predictions/, run.json, results.json)."),
    model: str | None = typer.Option(
        None, "--model", help="Model label for reports (default: lmms-eval's model folder of the files)."),
    protocol: str | None = typer.Option(
        None, "--protocol", help="Protocol to record (default: the one recorded with the data)."),
) -> None:
    """Turn lmms-eval's logged samples into a run folder that `judge`, `emid` and `report` accept,
    scored like an `evaluate` run (yes/no and multiple-choice metrics in results.json)."""
    from robustbench_mllm.runners.import_lmms_eval import ImportLmmsEvalConfig, run_import_lmms_eval

    outcome = run_import_lmms_eval(ImportLmmsEvalConfig(tuple(samples), data, out, model, protocol))
    console.print(summary_table(outcome.results))
    total = sum(f.predictions for f in outcome.files)
    console.print(f"imported {total} answers of {len(outcome.files)} configs into {out}; "
                  f"next: `robust-mllm judge {out}`")
