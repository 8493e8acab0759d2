"""The report's numbers as long tables: one row per model x dataset x variant x metric.

Per-item metrics (POPE, closed-form accuracy, relative preference) are recomputed from the items
with image-clustered bootstrap CIs; metrics only available as aggregates (EMID, JSD, or any
evaluate/judge number whose items are out of reach) come from results.json without a CI.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustbench_mllm.reports.bootstrap import DEFAULT_RESAMPLES, bootstrap_ratio, paired_bootstrap
from robustbench_mllm.reports.item_scores import ITEM_METRICS, ItemScores, item_scores
from robustbench_mllm.reports.run_data import Run, variant_info

METRIC_COLUMNS = ["model", "dataset", "variant", "perturbation", "modality", "severity", "metric",
                  "value", "ci_low", "ci_high", "n_items", "source"]
MODALITY_ORDER = {"clean": 0, "visual": 1, "text": 2, "joint": 3}
MODALITY_LETTER = {"clean": "clean", "visual": "V", "text": "T", "joint": "J"}
DEFAULT_SEVERITY = 3


@dataclass(frozen=True)
class SectionMetric:
    """A number read from results.json: ``section.datasets.<ds>.<variant>.<path>`` -> ``metric``.
    ``fallback`` ones (evaluate, judge) are used only for variants whose items are out of reach,
    since the per-item recomputation gives the same number plus a CI."""

    section: str
    path: tuple[str, ...]
    metric: str
    title: str
    scale: float = 1.0
    fallback: bool = False
    baseline_of: str = ""  # the same-distribution baseline of this metric, shown beside it


SECTION_METRICS = (
    SectionMetric("evaluate", ("metrics", "llava", "per_split", "accuracy"), "pope_accuracy", "", 100.0, True),
    SectionMetric("evaluate", ("metrics", "llava", "per_split", "f1"), "pope_f1", "", 100.0, True),
    SectionMetric("evaluate", ("metrics", "accuracy"), "accuracy", "", 100.0, True),
    SectionMetric("judge", ("mean_over_runs", "overall", "score"), "relative_preference", "", 1.0, True),
    SectionMetric("emid", ("emid",), "emid", "EMID"),
    SectionMetric("emid", ("emi",), "emi", "EMI"),
    SectionMetric("emid", ("bound",), "emid_bound", "EMID upper bound"),
    SectionMetric("emid", ("bound_baseline",), "emid_bound_baseline", "", baseline_of="emid_bound"),
    SectionMetric("represent", ("jsd", "linear", "value"), "repr_jsd", "Representation JSD (linear)"),
    SectionMetric("represent", ("jsd", "linear", "baseline"), "repr_jsd_baseline", "", baseline_of="repr_jsd"),
    SectionMetric("represent", ("cosine_distance", "mean"), "repr_cosine", "Cosine distance to clean (mean)"),
)
PERCENT_METRICS = frozenset(m.key for m in ITEM_METRICS)
# metric -> its baseline metric: tables print "value (baseline)", never the baseline on its own
BASELINES = {m.baseline_of: m.metric for m in SECTION_METRICS if m.baseline_of}
# Scores (accuracy, F1, relative preference) have a robustness ratio and drop vs clean; EMID is
# already a difference from clean, and distances or EMI have no meaningful ratio.
RATIO_METRICS = PERCENT_METRICS
# Distances from clean and the EMID gap: a robust model keeps these small.
LOWER_IS_BETTER = frozenset({"emid", "emid_bound", "repr_jsd", "repr_cosine"})
_TITLES = {**{m.key: m.title for m in ITEM_METRICS}, **{m.metric: m.title for m in SECTION_METRICS if m.title}}
_ORDER = list(_TITLES)


def metric_title(metric: str) -> str:
    """``relative_preference.conv`` -> ``Relative preference (conv)``."""
    base, _, category = metric.partition(".")
    title = _TITLES.get(base, metric)
    return f"{title} ({category})" if category and base in _TITLES else title


def metric_rank(metric: str) -> tuple[int, str]:
    base = metric.partition(".")[0]
    return (_ORDER.index(base) if base in _ORDER else len(_ORDER), metric)


@dataclass(frozen=True)
class ReportTables:
    metrics: pd.DataFrame  # METRIC_COLUMNS
    modality: pd.DataFrame  # model, dataset, metric, modality, mean, clean, ratio, drop, n_variants
    paired: pd.DataFrame  # model, baseline, dataset, variant, metric, diff, ci_low, ci_high, p_value, n_items


def build_tables(runs: Sequence[Run], baseline: Run | None = None, *,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> ReportTables:
    everyone = list(runs) + ([baseline] if baseline is not None and baseline not in runs else [])
    rows: list[dict[str, Any]] = []
    paired: list[dict[str, Any]] = []
    for run in everyone:
        for dataset, variant in _run_variants(run):
            info = variant_info(variant, run.data, dataset)
            base = {"model": run.label, "dataset": dataset, "variant": variant, "perturbation": info.perturbation,
                    "modality": info.modality, "severity": info.severity}
            scores = item_scores(run, dataset, variant)
            for key, item in scores.items():
                est = bootstrap_ratio(item.clusters, item.num, item.den, strata=item.strata, scale=item.metric.scale,
                                      resamples=resamples, seed=(seed, run.label, dataset, variant, key))
                rows.append({**base, "metric": key, "value": est.value, "ci_low": est.low,
                             "ci_high": est.high, "n_items": est.n_items, "source": "items"})
                if baseline is not None and run is not baseline:
                    test = _paired(item, baseline, dataset, variant, key, resamples, seed)
                    if test is not None:
                        paired.append({"model": run.label, "baseline": baseline.label, "dataset": dataset,
                                       "variant": variant, "metric": key, **test})
            for metric, value in section_values(run.results, dataset, variant, with_fallback=not scores):
                rows.append({**base, "metric": metric, "value": value, "ci_low": np.nan,
                             "ci_high": np.nan, "n_items": np.nan, "source": "results.json"})
    metrics = _sorted(pd.DataFrame(rows, columns=METRIC_COLUMNS))
    return ReportTables(metrics, modality_summary(metrics), pd.DataFrame(paired))


def _run_variants(run: Run) -> Iterator[tuple[str, str]]:
    """Variants with predictions, plus those only named in results.json sections."""
    seen: dict[tuple[str, str], None] = {}
    for dataset, variants in run.datasets.items():
        for variant in variants:
            seen[(dataset, variant)] = None
    for section in dict.fromkeys(m.section for m in SECTION_METRICS):
        for dataset, variants in _section_datasets(run.results, section).items():
            if isinstance(variants, dict):
                for variant in variants:
                    seen[(dataset, variant)] = None
    yield from seen


def _section_datasets(results: dict[str, Any], section: str) -> dict[str, Any]:
    block = results.get(section)
    datasets = block.get("datasets") if isinstance(block, dict) else None
    return datasets if isinstance(datasets, dict) else {}


def section_values(results: dict[str, Any], dataset: str, variant: str, *,
                   with_fallback: bool) -> Iterator[tuple[str, float]]:
    """The SECTION_METRICS present for one variant (fallback ones only when asked)."""
    for spec in SECTION_METRICS:
        if spec.fallback and not with_fallback:
            continue
        node: Any = _section_datasets(results, spec.section).get(dataset, {}).get(variant)
        for key in spec.path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            yield spec.metric, spec.scale * float(node)


def _paired(item: ItemScores, baseline: Run, dataset: str, variant: str, key: str,
            resamples: int, seed: int) -> dict[str, Any] | None:
    theirs = item_scores(baseline, dataset, variant).get(key)
    if theirs is None:
        return None
    common = sorted(set(item.ids) & set(theirs.ids))
    if not common:
        return None
    mine, base = item.subset(common), theirs.subset(common)
    test = paired_bootstrap(mine.clusters, mine.num, mine.den, base.num, base.den, strata=mine.strata,
                            scale=item.metric.scale, resamples=resamples,
                            seed=(seed, "paired", dataset, variant, key))
    return {"diff": test.diff, "ci_low": test.low, "ci_high": test.high, "p_value": test.p_value,
            "n_items": test.n_items}


def swept(perturbed: pd.DataFrame) -> pd.DataFrame:
    """Rows of perturbations present at several severities: a severity curve or table over them
    averages the same perturbations at every point."""
    return perturbed[perturbed.groupby("perturbation")["severity"].transform("nunique") > 1]


def modality_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean per modality, robustness ratio (perturbed / clean) and drop (clean - perturbed), the
    latter two for RATIO_METRICS only (NaN otherwise).

    Like the paper's V/T/J averages, a modality swept over several severities is averaged at the
    default severity (3) when it has it; the severity table shows the sweep."""
    out: list[dict[str, Any]] = []
    for (model, dataset, metric), group in metrics.groupby(["model", "dataset", "metric"], sort=False):
        clean = group.loc[group["modality"] == "clean", "value"]
        clean_value = float(clean.iloc[0]) if len(clean) else np.nan
        for modality, part in group.groupby("modality", sort=False):
            at_default = part[part["severity"] == DEFAULT_SEVERITY]
            part = at_default if len(at_default) else part
            mean = float(part["value"].mean())
            scored = metric.partition(".")[0] in RATIO_METRICS
            ratio = mean / clean_value if scored and clean_value else np.nan
            out.append({"model": model, "dataset": dataset, "metric": metric, "modality": modality,
                        "mean": mean, "clean": clean_value, "ratio": ratio,
                        "drop": clean_value - mean if scored else np.nan, "n_variants": len(part)})
    frame = pd.DataFrame(out, columns=["model", "dataset", "metric", "modality", "mean", "clean",
                                       "ratio", "drop", "n_variants"])
    if frame.empty:
        return frame
    order = frame["modality"].map(MODALITY_ORDER).fillna(9)
    return frame.assign(_o=order).sort_values(["dataset", "metric", "model", "_o"]).drop(columns="_o")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = frame["modality"].map(MODALITY_ORDER).fillna(9)
    ranks = frame["metric"].map(lambda m: metric_rank(m)[0])
    return (frame.assign(_o=order, _m=ranks)
            .sort_values(["dataset", "_m", "metric", "_o", "perturbation", "severity", "model"], kind="stable")
            .drop(columns=["_o", "_m"]).reset_index(drop=True))
