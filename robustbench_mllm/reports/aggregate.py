"""Modality-level summaries (clean, V, T, J, all perturbed) with 95% CIs, and paired tests
against a baseline, per variant and per modality.

A modality's value is the mean over its variants (at the default severity where it was swept,
as the paper's V/T/J averages); its CI comes from the same image-clustered bootstrap as a cell's,
with one resample of source images shared by every variant averaged. Multiple comparisons: the
three modality tests (V, T, J) of one model and metric are one family, adjusted by Holm-Bonferroni;
the per-variant tests of one model and metric are another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustbench_mllm.reports.bootstrap import Group, bootstrap_mean_ratio, holm, paired_mean_bootstrap
from robustbench_mllm.reports.item_scores import ITEM_METRICS, ItemScores

DEFAULT_SEVERITY = 3
MODALITY_ORDER = {"clean": 0, "visual": 1, "text": 2, "joint": 3, "all": 4}
MODALITY_LETTER = {"clean": "clean", "visual": "V", "text": "T", "joint": "J", "all": "all"}
TESTED_LEVELS = ("visual", "text", "joint")  # one paired test per modality: the Holm family
# Scores (accuracy, F1, relative preference) have a robustness ratio and a drop vs clean; EMID is
# already a difference from clean, and distances or EMI have no meaningful ratio.
RATIO_METRICS = frozenset(m.key for m in ITEM_METRICS)
LEVEL_COLUMNS = ["model", "dataset", "metric", "modality", "mean", "ci_low", "ci_high", "clean", "ratio", "drop",
                 "n_variants", "n"]
PAIRED_COLUMNS = ["model", "baseline", "dataset", "variant", "metric", "diff", "ci_low", "ci_high", "p_value",
                  "p_holm", "n"]
MULTIPLE_COMPARISONS = ("p_holm: Holm-Bonferroni adjusted over the {family} of each model and metric; "
                        "* marks p_holm < 0.05")

Scores = dict[tuple[str, str, str, str], ItemScores]  # (model, dataset, variant, metric) -> items


@dataclass(frozen=True)
class Settings:
    resamples: int
    seed: int


def level_variants(part: pd.DataFrame) -> dict[str, list[str]]:
    """The variants averaged at each level for the rows of one model, dataset and metric."""
    levels: dict[str, list[str]] = {}
    clean = part.loc[part["modality"] == "clean", "variant"]
    if len(clean):
        levels["clean"] = [str(clean.iloc[0])]
    perturbed: list[str] = []
    modalities = 0
    for modality in TESTED_LEVELS:
        rows = part[part["modality"] == modality]
        at_default = rows[rows["severity"] == DEFAULT_SEVERITY]
        chosen = list((at_default if len(at_default) else rows)["variant"])
        if chosen:
            levels[modality] = chosen
            perturbed += chosen
            modalities += 1
    if modalities > 1:  # with one modality, "all" would repeat it
        levels["all"] = perturbed
    return levels


def level_summary(metrics: pd.DataFrame, scores: Scores, settings: Settings) -> pd.DataFrame:
    """Mean per level with its CI (where every variant averaged has items), the robustness ratio
    (level / clean) and drop (clean - level) for RATIO_METRICS (NaN otherwise)."""
    out: list[dict[str, Any]] = []
    for (model, dataset, metric), part in metrics.groupby(["model", "dataset", "metric"], sort=False):
        values = dict(zip(part["variant"], part["value"], strict=True))
        levels = level_variants(part)
        clean = float(values[levels["clean"][0]]) if "clean" in levels else np.nan
        scored = metric.partition(".")[0] in RATIO_METRICS
        for level, variants in levels.items():
            mean, low, high, n = float(np.mean([values[v] for v in variants])), np.nan, np.nan, np.nan
            items = [scores.get((model, dataset, v, metric)) for v in variants]
            if all(i is not None for i in items):
                est = bootstrap_mean_ratio([_group(i) for i in items if i is not None],
                                           scale=items[0].metric.scale if items[0] else 1.0,
                                           resamples=settings.resamples, seed=(settings.seed, model, dataset, level, metric))
                mean, low, high, n = est.value, est.low, est.high, est.n_items
            ratio = mean / clean if scored and clean else np.nan
            out.append({"model": model, "dataset": dataset, "metric": metric, "modality": level, "mean": mean,
                        "ci_low": low, "ci_high": high, "clean": clean, "ratio": ratio,
                        "drop": clean - mean if scored else np.nan, "n_variants": len(variants), "n": n})
    frame = pd.DataFrame(out, columns=LEVEL_COLUMNS)
    order = frame["modality"].map(MODALITY_ORDER).fillna(9)
    return frame.assign(_o=order).sort_values(["dataset", "metric", "model", "_o"], kind="stable").drop(columns="_o")


def _group(item: ItemScores) -> Group:
    return Group(item.clusters, item.strata, np.column_stack([item.num, item.den]))


def _paired_group(mine: ItemScores, theirs: ItemScores) -> Group | None:
    common = sorted(set(mine.ids) & set(theirs.ids))
    if not common:
        return None
    a, b = mine.subset(common), theirs.subset(common)
    return Group(a.clusters, a.strata, np.column_stack([a.num, a.den, b.num, b.den]))


def _test(groups: Sequence[Group | None], scale: float, settings: Settings, seed: tuple[object, ...]) -> dict[str, Any] | None:
    if not groups or any(g is None for g in groups):
        return None
    test = paired_mean_bootstrap([g for g in groups if g is not None], scale=scale, resamples=settings.resamples,
                                 seed=(settings.seed, "paired", *seed))
    return {"diff": test.diff, "ci_low": test.low, "ci_high": test.high, "p_value": test.p_value, "n": test.n_items}


def _with_holm(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    if frame.empty:
        return frame
    for _, index in frame.groupby(["model", "dataset", "metric"], sort=False).groups.items():
        frame.loc[index, "p_holm"] = holm(list(frame.loc[index, "p_value"]))
    return frame


def variant_tests(metrics: pd.DataFrame, scores: Scores, models: Sequence[str], baseline: str | None,
                  settings: Settings) -> pd.DataFrame:
    """Each model minus the baseline on every variant both scored per item (paired bootstrap)."""
    rows: list[dict[str, Any]] = []
    if baseline is None:
        return _with_holm(rows)
    for (model, dataset, variant, metric), mine in scores.items():
        theirs = scores.get((baseline, dataset, variant, metric))
        if model not in models or theirs is None:
            continue
        test = _test([_paired_group(mine, theirs)], mine.metric.scale, settings, (dataset, variant, metric))
        if test is not None:
            rows.append({"model": model, "baseline": baseline, "dataset": dataset, "variant": variant,
                         "metric": metric, **test, "p_holm": np.nan})
    return _with_holm(rows)


def level_tests(metrics: pd.DataFrame, scores: Scores, models: Sequence[str], baseline: str | None,
                settings: Settings) -> pd.DataFrame:
    """Each model minus the baseline on each modality's mean (V, T, J): one paired test per
    modality, the three Holm-adjusted together."""
    rows: list[dict[str, Any]] = []
    if baseline is None:
        return _with_holm(rows)
    for (model, dataset, metric), part in metrics.groupby(["model", "dataset", "metric"], sort=False):
        if model not in models:
            continue
        for level, variants in level_variants(part).items():
            if level not in TESTED_LEVELS:
                continue
            pairs = [(scores.get((model, dataset, v, metric)), scores.get((baseline, dataset, v, metric)))
                     for v in variants]
            if any(a is None or b is None for a, b in pairs):
                continue
            groups = [_paired_group(a, b) for a, b in pairs if a is not None and b is not None]
            scale = pairs[0][0].metric.scale if pairs[0][0] is not None else 1.0
            test = _test(groups, scale, settings, (dataset, level, metric))
            if test is not None:
                rows.append({"model": model, "baseline": baseline, "dataset": dataset, "variant": level,
                             "metric": metric, **test, "p_holm": np.nan})
    return _with_holm(rows)
