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

from robustbench_mllm.reports import aggregate
from robustbench_mllm.reports.aggregate import MODALITY_ORDER, RATIO_METRICS
from robustbench_mllm.reports.bootstrap import DEFAULT_RESAMPLES, bootstrap_ratio
from robustbench_mllm.reports.item_scores import ITEM_METRICS, item_scores, pope_by_split
from robustbench_mllm.reports.run_data import Run, variant_info

# The tidy long table (metrics.csv / metrics.json): one row per model x dataset x variant x metric;
# the report keeps where each number came from ("items" or "results.json") beside it.
TIDY_COLUMNS = ["model", "dataset", "variant", "perturbation", "modality", "severity", "metric",
                "value", "ci_low", "ci_high", "n"]
METRIC_COLUMNS = [*TIDY_COLUMNS, "source"]


@dataclass(frozen=True)
class SectionMetric:
    """A number read from results.json: ``section.datasets.<ds>.<variant>.<path>`` -> ``metric``.
    ``fallback`` ones (evaluate, judge) are used only for variants whose items are out of reach,
    since the per-item recomputation gives the same number plus a CI."""

    section: str
    path: tuple[str, ...]  # POPE_AVERAGE stands for the protocol's average (pooled or per split)
    metric: str
    title: str
    scale: float = 1.0
    fallback: bool = False
    baseline_of: str = ""  # the same-distribution baseline of this metric, shown beside it


POPE_AVERAGE = "<pope average>"
SECTION_METRICS = (
    SectionMetric("evaluate", ("metrics", "llava", POPE_AVERAGE, "accuracy"), "pope_accuracy", "", 100.0, True),
    SectionMetric("evaluate", ("metrics", "llava", POPE_AVERAGE, "f1"), "pope_f1", "", 100.0, True),
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
PERCENT_METRICS = RATIO_METRICS  # the per-item scores: percentages, with a robustness ratio
# metric -> its baseline metric: tables print "value (baseline)", never the baseline on its own
BASELINES = {m.baseline_of: m.metric for m in SECTION_METRICS if m.baseline_of}
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
    modality: pd.DataFrame  # aggregate.LEVEL_COLUMNS: clean, V, T, J and all, with CIs
    paired: pd.DataFrame  # aggregate.PAIRED_COLUMNS, one row per variant
    modality_paired: pd.DataFrame  # aggregate.PAIRED_COLUMNS, one row per modality (V, T, J)


def build_tables(runs: Sequence[Run], baseline: Run | None = None, *,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> ReportTables:
    everyone = list(runs) + ([baseline] if baseline is not None and baseline not in runs else [])
    rows: list[dict[str, Any]] = []
    scores: aggregate.Scores = {}
    for run in everyone:
        for dataset, variant in _run_variants(run):
            info = variant_info(variant, run.data, dataset)
            base = {"model": run.label, "dataset": dataset, "variant": variant, "perturbation": info.perturbation,
                    "modality": info.modality, "severity": info.severity}
            found = item_scores(run, dataset, variant)
            for key, item in found.items():
                scores[(run.label, dataset, variant, key)] = item
                est = bootstrap_ratio(item.clusters, item.num, item.den, strata=item.strata, scale=item.metric.scale,
                                      resamples=resamples, seed=(seed, run.label, dataset, variant, key))
                rows.append({**base, "metric": key, "value": est.value, "ci_low": est.low,
                             "ci_high": est.high, "n": est.n_items, "source": "items"})
            for metric, value in section_values(run.results, dataset, variant, with_fallback=not found,
                                                pooled=not pope_by_split(run.protocol)):
                rows.append({**base, "metric": metric, "value": value, "ci_low": np.nan, "ci_high": np.nan, "n": np.nan,
                             "source": "results.json"})
    metrics = _sorted(pd.DataFrame(rows, columns=METRIC_COLUMNS))
    settings = aggregate.Settings(resamples, seed)
    others = [run.label for run in runs if baseline is None or run.label != baseline.label]
    against = baseline.label if baseline is not None else None
    return ReportTables(metrics, aggregate.level_summary(metrics, scores, settings),
                        aggregate.variant_tests(metrics, scores, others, against, settings),
                        aggregate.level_tests(metrics, scores, others, against, settings))


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
                   with_fallback: bool, pooled: bool = False) -> Iterator[tuple[str, float]]:
    """The SECTION_METRICS present for one variant (fallback ones only when asked). POPE's average
    is the ``pooled`` one for a pooling protocol (vittle) when evaluate wrote it, else the mean
    over splits (``per_split``, or ``mean`` as older evaluate runs call it)."""
    averages = ("pooled", "mean") if pooled else ("per_split", "mean")
    for spec in SECTION_METRICS:
        if spec.fallback and not with_fallback:
            continue
        node: Any = _section_datasets(results, spec.section).get(dataset, {}).get(variant)
        for key in spec.path:
            if key == POPE_AVERAGE and isinstance(node, dict):
                key = next((a for a in averages if a in node), averages[-1])
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            yield spec.metric, spec.scale * float(node)


def swept(perturbed: pd.DataFrame) -> pd.DataFrame:
    """Rows of perturbations present at several severities: a severity curve or table over them
    averages the same perturbations at every point."""
    return perturbed[perturbed.groupby("perturbation")["severity"].transform("nunique") > 1]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = frame["modality"].map(MODALITY_ORDER).fillna(9)
    ranks = frame["metric"].map(lambda m: metric_rank(m)[0])
    return (frame.assign(_o=order, _m=ranks)
            .sort_values(["dataset", "_m", "metric", "_o", "perturbation", "severity", "model"], kind="stable")
            .drop(columns=["_o", "_m"]).reset_index(drop=True))
