"""``robust-mllm report``: tables, plots and an HTML page over one or more evaluated runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console


def summary_table(modality: object) -> Table:
    """The modality means with their CIs, as printed at the end of ``report`` and ``run``."""
    from robustbench_mllm.reports.summary import BASELINES, metric_title
    from robustbench_mllm.reports.tables import fmt

    table = Table(title="Mean by modality (95% CI; ratio = modality / clean)")
    for column in ("dataset", "metric", "model", "modality", "mean", "95% CI", "ratio"):
        table.add_column(column)
    for row in modality.itertuples():  # type: ignore[attr-defined]
        if row.metric in BASELINES.values():  # shown beside their metric in the report's tables
            continue
        ci = "–" if row.ci_low != row.ci_low else f"[{fmt(row.ci_low, 3)}, {fmt(row.ci_high, 3)}]"
        table.add_row(row.dataset, metric_title(row.metric), row.model, row.modality, fmt(row.mean, 3), ci,
                      fmt(row.ratio, 3))
    return table


def report(
    runs: list[Path] = typer.Argument(..., help="Run folders (each with run.json, predictions/, results.json)."),
    baseline: Path | None = typer.Option(None, "--baseline", help="Run folder to compare every model against."),
    out: Path = typer.Option(
        Path("report"), "--out", help="Folder for report.html, report.md, tables.tex, metrics.csv/json, plots/."),
    resamples: int = typer.Option(2000, "--resamples", min=100, help="Bootstrap resamples (of source images)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap resampling."),
    title: str = typer.Option("robust-mllm report", "--title"),
    allow_mixed_protocols: bool = typer.Option(
        False, "--allow-mixed-protocols", help="Put runs of different protocols in one table anyway."),
) -> None:
    """Tables per model x variant (by modality and severity) with 95% CIs clustered by source image,
    paired bootstrap tests against --baseline, figures, and one HTML report."""
    from robustbench_mllm.runners.report import ReportConfig, run_report

    made = run_report(ReportConfig(runs=tuple(runs), out=out, baseline=baseline, resamples=resamples, seed=seed,
                                   title=title, allow_mixed_protocols=allow_mixed_protocols), status=console.status)
    console.print(summary_table(made.tables.modality))
    console.print(f"report written to {made.html} (tables: {out / 'report.md'}, {out / 'tables.tex'}; "
                  f"numbers: {out / 'metrics.csv'})")
