"""Write a report folder: CSV of every number, Markdown and LaTeX tables, PNG plots and one
self-contained HTML page (images inlined as base64, no external requests)."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm import __version__
from robustbench_mllm.io_utils import atomic_write_bytes, atomic_write_text
from robustbench_mllm.reports import plots, samples, tables
from robustbench_mllm.reports.run_data import Run
from robustbench_mllm.reports.summary import BASELINES, ReportTables, metric_title

LABEL_COLUMNS = frozenset({"model", "modality", "perturbation", "variant"})
ANSWER_ITEMS = 5  # items shown per variant in the clean-vs-perturbed answer tables
# The paper's figures: task scores, EMID and representation JSD per perturbation.
PLOTTED_METRICS = frozenset({"pope_accuracy", "pope_f1", "accuracy", "relative_preference", "emid", "repr_jsd"})


@dataclass(frozen=True)
class ReportConfig:
    resamples: int
    seed: int
    title: str = "robust-mllm report"


def write_report(runs: Sequence[Run], baseline: Run | None, report: ReportTables, out: Path,
                 settings: ReportConfig) -> Path:
    """Write everything under ``out``; returns the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("metrics", report.metrics), ("modality", report.modality), ("paired", report.paired)):
        atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False))
    markdown = [f"# {settings.title}\n"]
    latex: list[str] = []
    summary_html, variant_html, paired_html, figures = [], [], [], []
    for dataset, metric in tables.metric_groups(report):
        title = f"{dataset}: {metric_title(metric)}"
        note = " (same-distribution baseline in parentheses)" if metric in BASELINES else ""
        slug = f"{dataset}_{metric}".replace(".", "_")
        by_modality = tables.modality_table(report, dataset, metric)
        by_variant = tables.variant_table(report, dataset, metric)
        by_severity = tables.severity_table(report, dataset, metric)
        markdown += [f"## {title}{note}\n", "### By modality (severity 3 where present)\n",
                     tables.to_markdown(by_modality), "\n### By variant (95% CI)\n", tables.to_markdown(by_variant)]
        latex += [tables.to_latex(by_modality, f"{title}, by modality{note}", f"tab:{slug}_modality"),
                  tables.to_latex(by_variant, f"{title}, by variant{note}", f"tab:{slug}_variant")]
        summary_html.append({"title": f"{title}{note}", "html": _html_table(by_modality)})
        if not by_severity.empty:
            markdown += ["\n### By modality and severity\n", tables.to_markdown(by_severity)]
            latex.append(tables.to_latex(by_severity, f"{title}, by severity", f"tab:{slug}_severity"))
            summary_html.append({"title": f"{title}, by severity", "html": _html_table(by_severity)})
        variant_html.append({"title": f"{title}{note}", "html": _html_table(by_variant)})
        pairs = tables.paired_table(report, dataset, metric)
        if not pairs.empty and "." not in metric:  # category breakdowns: in paired.csv only
            markdown += ["\n### Paired bootstrap test vs baseline\n", tables.to_markdown(pairs)]
            paired_html.append({"title": title, "html": _html_table(pairs)})
        markdown.append("\n")
        if metric in PLOTTED_METRICS:  # the rest (categories, EMI, bounds) get tables only
            figures += _figures(report, dataset, metric, title, slug, baseline, out)
    figures += _represent_figures(list(runs) + ([baseline] if baseline is not None else []), out)
    atomic_write_text(out / "report.md", "\n".join(markdown))
    atomic_write_text(out / "tables.tex", "\n".join(latex))
    html_path = out / "report.html"
    atomic_write_text(html_path, _render_html({
        "title": settings.title, "version": __version__, "resamples": settings.resamples,
        "seed": settings.seed, "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "models": [r.label for r in runs], "baseline": baseline.label if baseline else None,
        "summary": summary_html, "variants": variant_html, "paired": paired_html, "plots": figures,
        "galleries": _galleries(runs), "answers": _answers(runs, baseline),
    }))
    return html_path


def _figures(report: ReportTables, dataset: str, metric: str, title: str, slug: str,
             baseline: Run | None, out: Path) -> list[dict[str, str]]:
    made = []
    drawn = (("bars", plots.perturbation_bars(report.metrics, dataset, metric, metric_title(metric),
                                              baseline.label if baseline else None)),
             ("severity", plots.severity_curves(report.metrics, dataset, metric, metric_title(metric))))
    shown = report.metrics.loc[(report.metrics["dataset"] == dataset) & (report.metrics["metric"] == metric), "model"]
    compared = baseline is not None and baseline.label in set(shown) and shown.nunique() > 1  # as the plot draws it
    captions = {"bars": "per variant" + (f", and relative change over {baseline.label}" if compared else ""),
                "severity": "by modality and severity"}
    for kind, png in drawn:
        if png is not None:
            atomic_write_bytes(out / "plots" / f"{slug}_{kind}.png", png)
            made.append({"title": f"{title}, {captions[kind]}", "data": base64.b64encode(png).decode("ascii")})
    return made


def _represent_figures(runs: Sequence[Run], out: Path) -> list[dict[str, str]]:
    """The PCA and cosine-distance PNGs that ``robust-mllm represent`` drew, when present; copied
    into ``out/plots`` beside the report's own figures."""
    made, seen = [], set()
    for run in runs:
        block = run.results.get("represent")
        plots_by_dataset = block.get("plots") if isinstance(block, dict) else None
        for dataset, files in (plots_by_dataset or {}).items():
            for kind, name in (files or {}).items():
                # absolute, relative to the run folder, or (older represent runs) relative to the cwd
                found = next((p.resolve() for p in (run.path / name, Path(name)) if p.is_file()), None)
                if found is not None and found not in seen:
                    seen.add(found)
                    png = found.read_bytes()
                    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"{run.label}_{dataset}_hidden_states_{kind}")
                    atomic_write_bytes(out / "plots" / f"{name}.png", png)  # labels may hold spaces, parentheses
                    made.append({"title": f"{run.label}: {dataset} hidden states ({kind})",
                                 "data": base64.b64encode(png).decode("ascii")})
    return made


def _galleries(runs: Sequence[Run]) -> list[samples.Gallery]:
    done: dict[tuple[Path, str], samples.Gallery] = {}
    for run in runs:
        if run.data is None:
            continue
        for dataset in run.datasets:
            key = (run.data, dataset)
            if key not in done:
                made = samples.item_gallery(run.data, dataset)
                if made is not None:
                    done[key] = made
    return list(done.values())


def _answers(runs: Sequence[Run], baseline: Run | None) -> list[dict[str, Any]]:
    shown = list(runs) + ([baseline] if baseline is not None and baseline not in runs else [])
    datasets = dict.fromkeys(d for run in shown for d in run.datasets)
    blocks = []
    for dataset in datasets:
        variants = dict.fromkeys(v for run in shown for v in run.datasets.get(dataset, ()) if v != "clean")
        for variant in variants:
            block = samples.answer_rows(shown, dataset, variant, ANSWER_ITEMS)
            if block is not None:
                blocks.append(block)
    return blocks


def _html_table(frame: Any) -> str:
    import html

    if frame.empty:
        return "<p>–</p>"
    # names read left-aligned, numbers right-aligned
    align = [' class="label"' if str(c) in LABEL_COLUMNS else "" for c in frame.columns]
    head = "".join(f"<th{a}>{html.escape(str(c))}</th>" for a, c in zip(align, frame.columns, strict=True))
    body = "".join("<tr>" + "".join(f"<td{a}>{html.escape(str(v))}</td>" for a, v in zip(align, row, strict=True))
                   + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _render_html(context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("robustbench_mllm", "reports"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2").render(**context)
