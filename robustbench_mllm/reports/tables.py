"""Wide tables for reading (Markdown, LaTeX, HTML) built from the long metric frames.

- ``perturbation_table``: perturbations (grouped V / T / J) x models at the default severity, with
  each model's change against the baseline: relative (%) for scores, a difference for EMID, JSD
  and distances (a ratio of those means nothing). The paper's Figures 3, 4 and 12 as numbers.
- ``level_table``: models x (clean, V, T, J, all) with 95% CIs (Tables 3, 4 and 11);
  ``ratio_table``: the robustness ratio and drop of scores; ``level_test_table``: one paired
  test per modality against the baseline.
- ``variant_table``: every variant x models with 95% CIs; ``severity_table``: the sweep.
The long frames themselves go to CSV/JSON unchanged.
"""

from __future__ import annotations

import math

import pandas as pd

from robustbench_mllm.reports.aggregate import DEFAULT_SEVERITY, MODALITY_LETTER, MODALITY_ORDER, RATIO_METRICS
from robustbench_mllm.reports.summary import BASELINES, PERCENT_METRICS, ReportTables, metric_rank, swept

GROUP = "modality"  # the column whose changes draw a separator (a rule in LaTeX, a header row in HTML)
MODALITY_NAME = {"clean": "clean", "visual": "visual (V)", "text": "text (T)", "joint": "joint (J)", "all": "all"}


def fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _digits(metric: str) -> int:
    """Aggregates like EMID and JSD are small numbers; percentages read fine with one decimal."""
    return 1 if metric.partition(".")[0] in PERCENT_METRICS else 3


def is_ratio_metric(metric: str) -> bool:
    return metric.partition(".")[0] in RATIO_METRICS


def change(value: float, base: float, metric: str) -> str:
    """The change of ``value`` over ``base``: relative for scores, a difference otherwise."""
    if math.isnan(value) or math.isnan(base):
        return "–"
    if is_ratio_metric(metric):
        return "–" if base == 0 else f"{100.0 * (value - base) / base:+.1f}%"
    return f"{value - base:+.{_digits(metric)}f}"


def _ci(value: float, low: float, high: float, digits: int) -> str:
    return fmt(value, digits) + ("" if math.isnan(low) else f" [{fmt(low, digits)}, {fmt(high, digits)}]")


def _baselines(frame: pd.DataFrame, dataset: str, metric: str, key: str, value: str) -> dict[tuple[str, str], float]:
    """(model, ``key`` column) -> the same-distribution baseline of ``metric``; empty without one."""
    part = frame[(frame["dataset"] == dataset) & (frame["metric"] == BASELINES.get(metric, ""))]
    return {(model, k): v for model, k, v in zip(part["model"], part[key], part[value], strict=True)}


def _cell(value: float, digits: int, baseline: float | None) -> str:
    """``value (baseline)`` where a same-distribution baseline exists."""
    return fmt(value, digits) + ("" if baseline is None else f" ({fmt(baseline, digits)})")


def _part(frame: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    return frame[(frame["dataset"] == dataset) & (frame["metric"] == metric)]


def perturbation_table(tables: ReportTables, dataset: str, metric: str, baseline: str | None) -> pd.DataFrame:
    """One row per perturbation (clean first, then V, T, J), one column per model, at the default
    severity where swept; other models' cells carry their change over ``baseline``."""
    part = _part(tables.metrics, dataset, metric)
    at_default = part[(part["severity"] == DEFAULT_SEVERITY) | (part["modality"] == "clean")]
    part = at_default if at_default["modality"].ne("clean").any() else part
    models = list(dict.fromkeys(part["model"]))
    compared = baseline in models and len(models) > 1
    digits = _digits(metric)
    values = {(r.model, r.perturbation, r.modality): r.value for r in part.itertuples()}
    rows = []
    for perturbation, modality in dict.fromkeys(zip(part["perturbation"], part["modality"], strict=True)):
        row = {GROUP: MODALITY_LETTER.get(modality, modality), "perturbation": perturbation}
        for model in models:
            value = values.get((model, perturbation, modality), float("nan"))
            row[model] = fmt(value, digits)
            if compared and model != baseline:
                row[model] += f" ({change(value, values.get((baseline, perturbation, modality), float('nan')), metric)})"
        rows.append(row)
    return pd.DataFrame(rows, columns=[GROUP, "perturbation", *models])


def level_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    """Models x (clean, V, T, J, all): the mean over each modality's variants with its 95% CI
    ("value (baseline)" for metrics with a same-distribution baseline)."""
    frame = tables.modality
    part = _part(frame, dataset, metric)
    baselines = _baselines(frame, dataset, metric, "modality", "mean")
    digits = _digits(metric)
    rows = []
    for model, group in part.groupby("model", sort=False):
        row = {"model": model}
        for r in group.itertuples():
            base = baselines.get((model, r.modality))
            row[MODALITY_LETTER.get(r.modality, r.modality)] = (
                _ci(r.mean, r.ci_low, r.ci_high, digits) if base is None else _cell(r.mean, digits, base))
        rows.append(row)
    order = ["model", *MODALITY_LETTER.values()]
    table = pd.DataFrame(rows)
    return table[[c for c in order if c in table.columns]] if not table.empty else table


def ratio_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    """Scores only: robustness ratio (modality / clean) with the drop (clean - modality) beside it."""
    part = _part(tables.modality, dataset, metric)
    if not is_ratio_metric(metric) or part.empty or part["clean"].isna().all():
        return pd.DataFrame()
    digits = _digits(metric)
    rows = []
    for model, group in part.groupby("model", sort=False):
        row: dict[str, str] = {"model": model}
        for r in group.itertuples():
            if r.modality != "clean":  # one column per modality keeps the table narrow
                row[f"{MODALITY_LETTER[r.modality]}/clean (drop)"] = f"{fmt(r.ratio, 3)} ({fmt(r.drop, digits)})"
        rows.append(row)
    return pd.DataFrame(rows)


def _test_cells(part: pd.DataFrame, digits: int) -> dict[str, list[str]]:
    return {
        "diff [95% CI]": [_ci(d, lo, hi, digits) for d, lo, hi in zip(part["diff"], part["ci_low"], part["ci_high"],
                                                                        strict=True)],
        "p": [fmt(p, 3) for p in part["p_value"]],
        "p_holm": [fmt(p, 3) + (" *" if p < 0.05 else "") for p in part["p_holm"]],
    }


def level_test_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    """Model minus baseline per modality (V, T, J), Holm-adjusted over the three."""
    part = _part(tables.modality_paired, dataset, metric) if not tables.modality_paired.empty else pd.DataFrame()
    if part.empty:
        return part
    return pd.DataFrame({"model": list(part["model"]),
                         GROUP: [MODALITY_LETTER.get(v, v) for v in part["variant"]], **_test_cells(part, _digits(metric))})


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
    part = _part(frame, dataset, metric)
    baselines = _baselines(frame, dataset, metric, "variant", "value")
    digits = _digits(metric)
    models = list(dict.fromkeys(part["model"]))
    rows: dict[str, dict[str, str]] = {}
    for record in part.itertuples():
        cell = _cell(record.value, digits, baselines.get((record.model, record.variant)))
        if with_ci and not math.isnan(record.ci_low):
            cell += f" [{fmt(record.ci_low, digits)}, {fmt(record.ci_high, digits)}]"
        row = rows.setdefault(record.variant, {
            GROUP: MODALITY_LETTER.get(record.modality, record.modality), "perturbation": record.perturbation,
            "severity": str(record.severity) if record.modality != "clean" else "–"})
        row[record.model] = cell
    return pd.DataFrame(list(rows.values()), columns=[GROUP, "perturbation", "severity", *models]).fillna("–")


def paired_table(tables: ReportTables, dataset: str, metric: str) -> pd.DataFrame:
    frame = tables.paired
    if frame.empty:
        return frame
    part = _part(frame, dataset, metric)
    metrics = tables.metrics
    order = {v: i for i, v in enumerate(dict.fromkeys(_part(metrics, dataset, metric)["variant"]))}
    part = part.assign(_o=part["variant"].map(order)).sort_values(["_o", "model"], kind="stable")
    return pd.DataFrame({"model": list(part["model"]), "variant": list(part["variant"]),
                         **_test_cells(part, _digits(metric))})


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
