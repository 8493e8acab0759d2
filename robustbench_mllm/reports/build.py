"""Write a report folder: the tidy long table (metrics.csv / metrics.json), Markdown and LaTeX
tables, PNG figures, and one HTML page (table of contents, foldable sections, figures and gallery
tiles as small inline JPEG thumbnails that open the full-size file beside the page)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from robustbench_mllm import __version__
from robustbench_mllm.io_utils import atomic_write_bytes, atomic_write_text
from robustbench_mllm.reports import latex, plots, samples, tables
from robustbench_mllm.reports.aggregate import MULTIPLE_COMPARISONS
from robustbench_mllm.reports.html import html_table, render_page, thumbnail
from robustbench_mllm.reports.run_data import Run
from robustbench_mllm.reports.summary import BASELINES, TIDY_COLUMNS, ReportTables, metric_title

ANSWER_ITEMS = 3  # items shown per variant in the clean-vs-perturbed answer tables
# The paper's figures: task scores, EMID and representation JSD per perturbation.
PLOTTED_METRICS = frozenset({"pope_accuracy", "pope_f1", "accuracy", "relative_preference", "emid", "repr_jsd"})


@dataclass(frozen=True)
class PageSettings:
    resamples: int
    seed: int
    title: str = "robust-mllm report"


@dataclass
class _Writer:
    """Collects every table in the three formats and every figure, section by section."""

    out: Path
    markdown: list[str]
    latex: list[str]
    sections: list[dict[str, Any]]

    def table(self, block: list[dict[str, Any]], frame: pd.DataFrame, caption: str, label: str) -> None:
        if frame.empty:
            return
        self.markdown += [f"**{caption}**\n", tables.to_markdown(frame), ""]
        self.latex.append(latex.to_latex(frame, caption, label))
        block.append({"kind": "table", "caption": caption, "html": html_table(frame)})

    def figure(self, block: list[dict[str, Any]], png: bytes | None, name: str, caption: str) -> None:
        if png is None:
            return
        path = self.out / "plots" / f"{name}.png"
        atomic_write_bytes(path, png)
        self.markdown += [f"![{caption}](plots/{path.name})\n"]
        block.append({"kind": "figure", "caption": caption, "href": f"plots/{path.name}", "data": thumbnail(png)})


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).replace(".", "_")


def write_report(runs: Sequence[Run], baseline: Run | None, report: ReportTables, out: Path,
                 settings: PageSettings) -> Path:
    """Write everything under ``out``; returns the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    tidy = report.metrics[TIDY_COLUMNS]
    atomic_write_text(out / "metrics.csv", tidy.to_csv(index=False))
    atomic_write_text(out / "metrics.json", json.dumps(json.loads(tidy.to_json(orient="records")), indent=1))
    for name, frame in (("modality", report.modality), ("paired", report.paired),
                        ("modality_paired", report.modality_paired)):
        atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
    writer = _Writer(out, [f"# {settings.title}\n"], [latex.HEADER], [])
    against = baseline.label if baseline is not None else None
    for dataset, metric in tables.metric_groups(report):
        _metric_section(writer, report, dataset, metric, against, settings)
    shown = list(runs) + ([baseline] if baseline is not None and baseline not in runs else [])
    represent = _represent_figures(shown, writer)
    atomic_write_text(out / "report.md", "\n".join(writer.markdown))
    atomic_write_text(out / "tables.tex", "\n".join(writer.latex))
    html_path = out / "report.html"
    atomic_write_text(html_path, render_page({
        "title": settings.title, "version": __version__, "resamples": settings.resamples,
        "seed": settings.seed, "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "models": [r.label for r in runs], "baseline": against,
        "protocols": sorted({r.protocol for r in shown}),
        "sections": writer.sections, "represent": represent,
        "galleries": _galleries(runs, out), "answers": _answers(shown),
    }))
    return html_path


def _metric_section(writer: _Writer, report: ReportTables, dataset: str, metric: str, baseline: str | None,
                    settings: PageSettings) -> None:
    title = f"{dataset}: {metric_title(metric)}"
    slug = _slug(f"{dataset}_{metric}")
    part = report.metrics[(report.metrics["dataset"] == dataset) & (report.metrics["metric"] == metric)]
    has_ci = bool(part["ci_low"].notna().any())
    ci = (f"95% CI: image-clustered bootstrap, {settings.resamples} resamples" if has_ci
          else "no CI: fewer than two source images per variant" if part["source"].eq("items").any()
          else "no CI: an aggregate read from results.json")
    note = "; same-distribution baseline in parentheses" if metric in BASELINES else ""
    shifts = "relative change" if tables.is_ratio_metric(metric) else "difference"
    main: list[dict[str, Any]] = []
    more: list[dict[str, Any]] = []
    writer.markdown.append(f"## {title}\n")
    writer.table(main, tables.level_table(report, dataset, metric),
                 f"{title}: mean over each modality's variants (severity 3 where swept; all = every perturbed "
                 f"variant; {ci}{note})", f"tab:{slug}_levels")
    writer.table(main, tables.ratio_table(report, dataset, metric),
                 f"{title}: robustness ratio (modality / clean) and, in parentheses, drop (clean - modality)", f"tab:{slug}_ratio")
    if baseline is not None and "." not in metric:  # category breakdowns: in the CSV files only
        family = MULTIPLE_COMPARISONS.format(family="three modality tests (V, T, J)")
        writer.table(main, tables.level_test_table(report, dataset, metric),
                     f"{title}: paired bootstrap test of each modality mean, model - {baseline} on the same "
                     f"items ({family})", f"tab:{slug}_tests")
    compared = baseline is not None and part["model"].nunique() > 1 and baseline in set(part["model"])
    writer.table(main, tables.perturbation_table(report, dataset, metric, baseline),
                 f"{title} per perturbation (severity 3 where swept" + (f"; in parentheses: {shifts} vs {baseline}"
                                                                         if compared else "") + ")",
                 f"tab:{slug}_perturbations")
    if metric in PLOTTED_METRICS:  # the rest (categories, EMI, bounds) get tables only
        writer.figure(main, plots.perturbation_figure(report.metrics, dataset, metric, metric_title(metric),
                                                      baseline), f"{slug}_perturbations",
                      f"{title} per perturbation" + (f", {shifts} vs {baseline} on the bars" if compared else ""))
        writer.figure(main, plots.severity_figure(report.metrics, dataset, metric, metric_title(metric)),
                      f"{slug}_severity", f"{title} by severity, one curve per perturbation")
    writer.table(more, tables.severity_table(report, dataset, metric),
                 f"{title}: mean over the swept perturbations by modality and severity", f"tab:{slug}_severity")
    writer.table(more, tables.variant_table(report, dataset, metric),
                 f"{title}: every variant" + (" with 95% CI" if has_ci else f" ({ci})") + note, f"tab:{slug}_variants")
    if baseline is not None and "." not in metric:
        family = MULTIPLE_COMPARISONS.format(family="per-variant tests")
        writer.table(more, tables.paired_table(report, dataset, metric),
                     f"{title}: paired bootstrap test per variant, model - {baseline} ({family})",
                     f"tab:{slug}_variant_tests")
    writer.sections.append({"id": slug, "title": title, "blocks": main, "more": more})


def _represent_figures(runs: Sequence[Run], writer: _Writer) -> list[dict[str, Any]]:
    """The PCA and cosine-distance PNGs that ``robust-mllm represent`` drew, when present; copied
    into ``out/plots`` beside the report's own figures."""
    made: list[dict[str, Any]] = []
    seen: set[Path] = set()
    for run in runs:
        block = run.results.get("represent")
        plots_by_dataset = block.get("plots") if isinstance(block, dict) else None
        for dataset, files in (plots_by_dataset or {}).items():
            for kind, name in (files or {}).items():
                # absolute, relative to the run folder, or (older represent runs) relative to the cwd
                found = next((p.resolve() for p in (run.path / name, Path(name)) if p.is_file()), None)
                if found is not None and found not in seen:
                    seen.add(found)
                    writer.figure(made, found.read_bytes(), _slug(f"{run.label}_{dataset}_hidden_states_{kind}"),
                                  f"{run.label}: {dataset} hidden states ({kind})")
    return made


def _galleries(runs: Sequence[Run], out: Path) -> list[samples.Gallery]:
    done: dict[tuple[Path, str], samples.Gallery] = {}
    for run in runs:
        if run.data is None:
            continue
        for dataset in run.datasets:
            key = (run.data, dataset)
            if key not in done:
                made = samples.item_gallery(run.data, dataset, out)
                if made is not None:
                    done[key] = made
    return list(done.values())


def _answers(shown: Sequence[Run]) -> list[dict[str, Any]]:
    datasets = dict.fromkeys(d for run in shown for d in run.datasets)
    blocks = []
    for dataset in datasets:
        variants = dict.fromkeys(v for run in shown for v in run.datasets.get(dataset, ()) if v != "clean")
        for variant in variants:
            block = samples.answer_rows(shown, dataset, variant, ANSWER_ITEMS)
            if block is not None:
                blocks.append(block)
    return blocks
