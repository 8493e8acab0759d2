"""Cluster bootstrap for ratio-of-sums metrics, resampling whole source images.

Every metric in the report is ``scale * sum(num) / sum(den)`` over items: accuracy (num = correct,
den = 1), F1 (num = 2 TP, den = 2 TP + FP + FN) and relative preference (num = model score,
den = reference score). With strata (POPE's splits) it is the unweighted mean of that ratio per
stratum, as the paper averages the three splits. Items of one source image (POPE asks six questions per image and every
perturbed copy reuses it) are correlated, so the unit of resampling is the image: per-image sums
are drawn with replacement, which keeps the within-image correlation in every resample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robustbench_mllm.seeding import make_rng

DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n_items: int
    n_clusters: int


@dataclass(frozen=True)
class PairedTest:
    """Model minus baseline on the same items, with a two-sided bootstrap p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    n_items: int


@dataclass(frozen=True)
class Group:
    """The items of one variant: per item its cluster (source image), stratum and value columns
    (``num, den`` for an estimate; ``num, den, base_num, base_den`` for a paired test)."""

    clusters: Sequence[str]
    strata: Sequence[str]
    values: np.ndarray  # items x k


def cluster_sums(clusters: Sequence[str], strata: Sequence[str], values: np.ndarray,
                 universe: np.ndarray | None = None) -> np.ndarray:
    """Sums of the rows of ``values`` (items x k) per cluster and stratum: (clusters, strata, k).
    Clusters are indexed in ``universe`` (sorted; default: the sorted clusters given), strata in
    sorted order, so the result is deterministic."""
    keys = np.asarray(clusters, dtype=str)
    universe = np.unique(keys) if universe is None else universe
    cluster_index = np.searchsorted(universe, keys)
    _, stratum_index = np.unique(np.asarray(strata, dtype=str), return_inverse=True)
    sums = np.zeros((len(universe), stratum_index.max() + 1, values.shape[1]))
    np.add.at(sums, (cluster_index, stratum_index), values)
    return sums


def _stacked(groups: Sequence[Group]) -> list[np.ndarray]:
    """Each group's cluster sums over one shared, sorted set of clusters: resampling an image
    resamples it in every group at once (the variants of one image stay correlated)."""
    universe = np.unique(np.concatenate([np.asarray(g.clusters, dtype=str) for g in groups]))
    return [cluster_sums(g.clusters, g.strata, np.asarray(g.values, dtype=float), universe) for g in groups]


def _resample_counts(n_clusters: int, resamples: int, seed_parts: tuple[object, ...]) -> np.ndarray:
    rng = make_rng("bootstrap", *seed_parts)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=resamples)


def _ratio(totals: np.ndarray, scale: float, offset: int = 0) -> np.ndarray:
    """Mean over strata of num / den from totals shaped (..., strata, k) at columns offset, offset+1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return scale * np.mean(totals[..., offset] / totals[..., offset + 1], axis=-1)


def _strata(strata: Sequence[str] | None, n: int) -> Sequence[str]:
    return strata if strata is not None else [""] * n


def _mean_over_groups(sums: list[np.ndarray], counts: np.ndarray | None, scale: float, offset: int) -> np.ndarray:
    """The mean over groups of each group's ratio, on the data (counts None) or per resample."""
    ratios = [_ratio(s.sum(axis=0) if counts is None else np.einsum("bc,csk->bsk", counts, s), scale, offset)
              for s in sums]
    return np.mean(ratios, axis=0)


def bootstrap_ratio(clusters: Sequence[str], num: np.ndarray, den: np.ndarray, *, strata: Sequence[str] | None = None,
                    scale: float = 1.0, resamples: int = DEFAULT_RESAMPLES, seed: object = 0,
                    level: float = 0.95) -> Estimate:
    """Point estimate and percentile CI of ``scale * sum(num) / sum(den)`` (mean over strata)."""
    group = Group(clusters, _strata(strata, len(num)), np.column_stack([num, den]))
    return bootstrap_mean_ratio([group], scale=scale, resamples=resamples, seed=seed, level=level)


def bootstrap_mean_ratio(groups: Sequence[Group], *, scale: float = 1.0, resamples: int = DEFAULT_RESAMPLES,
                         seed: object = 0, level: float = 0.95) -> Estimate:
    """The mean over groups (variants) of each group's ratio, with a percentile CI from one
    resample of source images shared by every group (a modality's mean over its variants)."""
    sums = _stacked(groups)
    n_clusters, n_items = sums[0].shape[0], sum(len(g.clusters) for g in groups)
    value = float(_mean_over_groups(sums, None, scale, 0))
    if n_clusters < 2:
        return Estimate(value, float("nan"), float("nan"), n_items, n_clusters)
    counts = _resample_counts(n_clusters, resamples, (seed, n_clusters))
    stats = _mean_over_groups(sums, counts, scale, 0)
    low, high = np.nanquantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(value, float(low), float(high), n_items, n_clusters)


def paired_bootstrap(clusters: Sequence[str], num: np.ndarray, den: np.ndarray, base_num: np.ndarray,
                     base_den: np.ndarray, *, strata: Sequence[str] | None = None, scale: float = 1.0,
                     resamples: int = DEFAULT_RESAMPLES, seed: object = 0, level: float = 0.95) -> PairedTest:
    """Difference of the metric between a model and a baseline scored on the same items; both are
    recomputed from one shared resample of images per draw, so the pairing is kept."""
    group = Group(clusters, _strata(strata, len(num)), np.column_stack([num, den, base_num, base_den]))
    return paired_mean_bootstrap([group], scale=scale, resamples=resamples, seed=seed, level=level)


def paired_mean_bootstrap(groups: Sequence[Group], *, scale: float = 1.0, resamples: int = DEFAULT_RESAMPLES,
                          seed: object = 0, level: float = 0.95) -> PairedTest:
    """Model minus baseline of the mean over groups of the ratio (each group's values hold
    ``num, den, base_num, base_den`` on the same items), with a two-sided bootstrap p-value."""
    sums = _stacked(groups)
    n_clusters, n_items = sums[0].shape[0], sum(len(g.clusters) for g in groups)
    diff = float(_mean_over_groups(sums, None, scale, 0) - _mean_over_groups(sums, None, scale, 2))
    if n_clusters < 2:
        return PairedTest(diff, float("nan"), float("nan"), float("nan"), n_items)
    counts = _resample_counts(n_clusters, resamples, (seed, "paired", n_clusters))
    deltas = _mean_over_groups(sums, counts, scale, 0) - _mean_over_groups(sums, counts, scale, 2)
    deltas = deltas[~np.isnan(deltas)]
    low, high = np.quantile(deltas, [(1 - level) / 2, (1 + level) / 2])
    # Two-sided percentile p-value: how often the resampled difference lands on the other side of 0.
    # (+1 in numerator and denominator: a finite resample never reports p = 0.)
    other_side = min(int(np.sum(deltas <= 0)), int(np.sum(deltas >= 0)))
    p_value = float(min(1.0, 2 * (other_side + 1) / (len(deltas) + 1)))
    return PairedTest(diff, float(low), float(high), p_value, n_items)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted as a test)."""
    indexed = sorted((p, i) for i, p in enumerate(p_values) if not np.isnan(p))
    adjusted = [float("nan")] * len(p_values)
    running, m = 0.0, len(indexed)
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
