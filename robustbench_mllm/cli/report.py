"""``robust-mllm report``: tables, plots and an HTML page over one or more evaluated runs."""

from __future__ import annotations

from pathlib import Path

import typer

from robustbench_mllm.cli.common import console


def report(
    runs: list[Path] = typer.Argument(..., help="Run folders (each with run.json, predictions/, results.json)."),
    baseline: Path | None = typer.Option(None, "--baseline", help="Run folder to compare every model against."),
    out: Path = typer.Option(
        Path("report"), "--out", help="Folder for report.html, report.md, tables.tex, CSV, plots/."),
    resamples: int = typer.Option(2000, "--resamples", min=100, help="Bootstrap resamples (of source images)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap resampling."),
    title: str = typer.Option("robust-mllm report", "--title"),
) -> None:
    """Tables per model x variant (by modality and severity) with 95% CIs clustered by source image,
    paired bootstrap tests against --baseline, plots, and one self-contained HTML report."""
    from rich.table import Table

    from robustbench_mllm.reports.build import ReportConfig, write_report
    from robustbench_mllm.reports.run_data import load_run, with_unique_labels
    from robustbench_mllm.reports.summary import BASELINES, build_tables, metric_title
    from robustbench_mllm.reports.tables import fmt

    paths = list(dict.fromkeys(p.resolve() for p in runs))
    base_path = baseline.resolve() if baseline is not None else None
    extra = [base_path] if base_path is not None and base_path not in paths else []
    everyone = with_unique_labels([load_run(p) for p in paths + extra])
    base = next((r for r in everyone if r.path == base_path), None)
    loaded = everyone[: len(paths)]
    with console.status("bootstrapping confidence intervals..."):
        result = build_tables(loaded, base, resamples=resamples, seed=seed)
    html = write_report(loaded, base, result, out, ReportConfig(resamples=resamples, seed=seed, title=title))
    table = Table(title="Mean by modality (ratio = perturbed / clean)")
    for column in ("dataset", "metric", "model", "modality", "mean", "ratio"):
        table.add_column(column)
    for row in result.modality.itertuples():
        if row.metric in BASELINES.values():  # shown beside their metric in the report's tables
            continue
        table.add_row(row.dataset, metric_title(row.metric), row.model, row.modality, fmt(row.mean, 3),
                      fmt(row.ratio, 3))
    console.print(table)
    console.print(f"report written to {html} (tables: {out / 'report.md'}, {out / 'tables.tex'})")
