"""The report stage (``robust-mllm report RUN...``): load the run folders, refuse runs of
different protocols in one table unless asked, bootstrap every number, write the report folder."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.reports.build import PageSettings, write_report
from robustbench_mllm.reports.run_data import check_protocols, load_run, with_unique_labels
from robustbench_mllm.reports.summary import ReportTables, build_tables


@dataclass(frozen=True)
class ReportConfig:
    runs: tuple[Path, ...]
    out: Path
    baseline: Path | None = None
    resamples: int = 2000
    seed: int = 0
    title: str = "robust-mllm report"
    allow_mixed_protocols: bool = False
    labels: tuple[str, ...] = ()  # one per run (and the baseline last, when it is not a run); default: model names


@dataclass(frozen=True)
class ReportOutcome:
    html: Path
    tables: ReportTables


def run_report(config: ReportConfig,
               status: Callable[[str], AbstractContextManager[object]] | None = None) -> ReportOutcome:
    """``status(message)`` wraps the slow part (a spinner in the CLI)."""
    paths = list(dict.fromkeys(Path(p).resolve() for p in config.runs))
    base_path = Path(config.baseline).resolve() if config.baseline is not None else None
    extra = [base_path] if base_path is not None and base_path not in paths else []
    loaded_runs = [load_run(p) for p in paths + extra]
    if config.labels:
        loaded_runs = [dataclasses.replace(run, label=label) for run, label in zip(loaded_runs, config.labels, strict=True)]
    everyone = with_unique_labels(loaded_runs)
    check_protocols(everyone, config.allow_mixed_protocols)
    base = next((r for r in everyone if r.path == base_path), None)
    loaded = everyone[: len(paths)]
    with (status or (lambda _: nullcontext()))("bootstrapping confidence intervals..."):
        result = build_tables(loaded, base, resamples=config.resamples, seed=config.seed)
    html = write_report(loaded, base, result, Path(config.out),
                        PageSettings(resamples=config.resamples, seed=config.seed, title=config.title))
    return ReportOutcome(html, result)
