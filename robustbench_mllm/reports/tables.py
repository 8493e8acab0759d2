"""Wide tables for reading (Markdown, LaTeX, HTML) built from the long metric frames.

``modality_table``: models x (clean, V, T, J) means with robustness ratios for scores, like the
paper's Table 3. ``variant_table``: variants x models with 95% CIs, the numbers of Table 11. The long frames
themselves go to CSV unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from robustbench_mllm.reports.summary import (
    BASELINES,
    MODALITY_LETTER,
    MODALITY_ORDER,
    PERCENT_METRICS,
    RATIO_METRICS,
    ReportTables,
    metric_rank,
    swept,
)


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _digits(metric: str) -> int:
    """Aggregates like EMID and JSD are small numbers; percentages read fine with one decimal."""
    return 1 if metric.partition(".")[0] in PERCENT_METRICS else 3


def _baselines(frame: pd.DataFrame, dataset: str, metric: str, key: str, value: str) -> dict[tuple[str, str], float]:
    """(model, ``key`` column) -> the same-distribution baseline of ``metric``; empty without one."""
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == BASELINES.get(metric, ""))]
    return {(model, k): v for model, k, v in zip(part["model"], part[key], part[value], strict=True)}


def _cell(value: float, digits: int, baseline: float | None) -> str:
    """``value (baseline)`` where a same-distribution baseline exists."""
    return fmt(value, digits) + ("" if baseline is None else f" ({fmt(baseline, digits)})")


def modality_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    """Ratio and drop columns for scores only (RATIO_METRICS); "value (baseline)" cells for
    metrics with a same-distribution baseline."""
    frame = tables.modality
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)]
    baselines = _baselines(frame, dataset, metric, "modality", "mean")
    digits = _digits(metric)
    rows = []
    for model, group in part.groupby("model", sort=False):
        row = {"model": model}
        for record in group.itertuples():
            letter = MODALITY_LETTER.get(record.modality, record.modality)
            row[letter] = _cell(record.mean, digits, baselines.get((model, record.modality)))
            if record.modality != "clean" and metric.partition(".")[0] in RATIO_METRICS:
                row[f"{letter}/clean"] = fmt(record.ratio, 3)
                row[f"{letter} drop"] = fmt(record.drop, digits)
        rows.append(row)
    order = ["model", "clean"] + [f"{m}{s}" for m in ("V", "T", "J") for s in ("", "/clean", " drop")]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # A score without a clean value has no ratio or drop: those columns stay empty.
    return table[[c for c in order if c in table.columns and not table[c].eq("–").all()]]


def severity_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    """Models x (modality, severity) means over the swept perturbations (the paper's severity
    study); empty when no perturbation was generated at several severities."""
    frame = tables.metrics
    part = swept(frame[(frame["dataset"] == dataset) & (frame["metric"] == metric) & (frame["modality"] != "clean")])
    if part.empty:
        return pd.DataFrame()
    means = part.groupby(["model", "modality", "severity"], sort=False)["value"].mean()
    columns = sorted({(m, s) for _, m, s in means.index}, key=lambda ms: (MODALITY_ORDER.get(ms[0], 9), ms[1]))
    digits = _digits(metric)
    rows = [{"model": model, **{f"{MODALITY_LETTER[m]} s{s}": fmt(means.get((model, m, s), float("nan")), digits)
                                for m, s in columns}}
            for model in dict.fromkeys(part["model"])]
    return pd.DataFrame(rows)


def variant_table(tables: ReportTables, dataset: str, metric: str, *, with_ci: bool = True) -> pd.DataFrame:
    """One row per variant (clean, then V, T, J, each by perturbation and severity), one column per
    model: a suite has dozens of variants but few models, so this reads down rather than across."""
    frame = tables.metrics
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)]
    baselines = _baselines(frame, dataset, metric, "variant", "value")
    digits = _digits(metric)
    models = list(dict.fromkeys(part["model"]))
    rows: dict[str, dict[str, str]] = {}
    for record in part.itertuples():
        cell = _cell(record.value, digits, baselines.get((record.model, record.variant)))
        if with_ci and not math.isnan(record.ci_low):
            cell += f" [{fmt(record.ci_low, digits)}, {fmt(record.ci_high, digits)}]"
        row = rows.setdefault(record.variant, {
            "modality": MODALITY_LETTER.get(record.modality, record.modality), "perturbation": record.perturbation,
            "severity": str(record.severity) if record.modality != "clean" else "–"})
        row[record.model] = cell
    return pd.DataFrame(list(rows.values()), columns=["modality", "perturbation", "severity", *models]).fillna("–")


def paired_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    frame = tables.paired
    if frame.empty:
        return frame
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)]
    metrics = tables.metrics
    order = {v: i for i, v in enumerate(dict.fromkeys(  # the variant order of the other tables: clean, V, T, J
        metrics.loc[(metrics["dataset"] == dataset) & (metrics["metric"] == metric), "variant"]))}
    part = part.assign(_o=part["variant"].map(order)).sort_values(["_o", "model"], kind="stable")
    digits = _digits(metric)
    return pd.DataFrame({
        "model": part["model"], "variant": part["variant"],
        "diff vs " + (part["baseline"].iloc[0] if len(part) else "baseline"): [
            f"{fmt(d, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
            for d, lo, hi in zip(part["diff"], part["ci_low"], part["ci_high"], strict=False)],
        "p": [fmt(p, 3) for p in part["p_value"]],
    })


def metric_groups(tables: ReportTables) -> list[tuple[str, str]]:
    """(dataset, metric) pairs in report order: task scores before EMID and representation
    distances, whatever the data set; baselines appear beside their metric, not on their own."""
    frame = tables.metrics
    if frame.empty:
        return []
    shown = frame[~frame["metric"].isin(list(BASELINES.values()))]
    pairs = list(dict.fromkeys(zip(shown["dataset"], shown["metric"], strict=False)))
    return sorted(pairs, key=lambda pair: metric_rank(pair[1])[0])  # stable: data sets keep their order


def to_markdown(table: pd.DataFrame) -> str:
    header = [str(c) for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "–": "--"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs table (needs ``\\usepackage{booktabs}``)."""
    columns: Sequence[str] = [str(c) for c in table.columns]
    spec = "l" + "r" * (len(columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
             rf"\label{{{label}}}", r"\resizebox{\linewidth}{!}{%", rf"\begin{{tabular}}{{{spec}}}",
             r"\toprule", " & ".join(latex_escape(c) for c in columns) + r" \\", r"\midrule"]
    for row in table.itertuples(index=False):
        lines.append(" & ".join(latex_escape(str(v)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(lines) + "\n"
