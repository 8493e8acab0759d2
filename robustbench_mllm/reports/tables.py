"""Wide tables for reading (Markdown, LaTeX, HTML) built from the long metric frames.

``modality_table``: models x (clean, V, T, J) means with robustness ratios, like the paper's
Table 3. ``variant_table``: models x variants with 95% CIs, like Table 11. The long frames
themselves go to CSV unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from robustbench_mllm.reports.summary import MODALITY_LETTER, MODALITY_ORDER, PERCENT_METRICS, ReportTables, swept


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _digits(metric: str) -> int:
    """Aggregates like EMID and JSD are small numbers; percentages read fine with one decimal."""
    return 1 if metric.partition(".")[0] in PERCENT_METRICS else 3


def modality_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    frame = tables.modality
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)]
    digits = _digits(metric)
    rows = []
    for model, group in part.groupby("model", sort=False):
        row = {"model": model}
        for record in group.itertuples():
            letter = MODALITY_LETTER.get(record.modality, record.modality)
            row[letter] = fmt(record.mean, digits)
            if record.modality != "clean":
                row[f"{letter}/clean"] = fmt(record.ratio, 3)
                row[f"{letter} drop"] = fmt(record.drop, digits)
        rows.append(row)
    order = ["model", "clean"] + [f"{m}{s}" for m in ("V", "T", "J") for s in ("", "/clean", " drop")]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # Without a clean value (EMID is defined against clean) ratio and drop columns stay empty.
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
    frame = tables.metrics
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)]
    digits = _digits(metric)
    variants = list(dict.fromkeys(part["variant"]))
    rows = []
    for model, group in part.groupby("model", sort=False):
        row = {"model": model}
        for record in group.itertuples():
            cell = fmt(record.value, digits)
            if with_ci and not math.isnan(record.ci_low):
                cell += f" [{fmt(record.ci_low, digits)}, {fmt(record.ci_high, digits)}]"
            row[record.variant] = cell
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", *variants])


def paired_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    frame = tables.paired
    if frame.empty:
        return frame
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)]
    digits = _digits(metric)
    return pd.DataFrame({
        "model": part["model"], "variant": part["variant"],
        "diff vs " + (part["baseline"].iloc[0] if len(part) else "baseline"): [
            f"{fmt(d, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
            for d, lo, hi in zip(part["diff"], part["ci_low"], part["ci_high"], strict=False)],
        "p": [f"{p:.3f}" for p in part["p_value"]],
    })


def metric_groups(tables: ReportTables) -> list[tuple[str, str]]:
    """(dataset, metric) pairs in report order."""
    frame = tables.metrics
    if frame.empty:
        return []
    return list(dict.fromkeys(zip(frame["dataset"], frame["metric"], strict=False)))


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
