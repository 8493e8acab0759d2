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


def cluster_sums(clusters: Sequence[str], strata: Sequence[str], values: np.ndarray) -> np.ndarray:
    """Sums of the rows of ``values`` (items x k) per cluster and stratum: (clusters, strata, k).
    Clusters and strata are in sorted order, so the result is deterministic."""
    _, cluster_index = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    _, stratum_index = np.unique(np.asarray(strata, dtype=str), return_inverse=True)
    sums = np.zeros((cluster_index.max() + 1, stratum_index.max() + 1, values.shape[1]))
    np.add.at(sums, (cluster_index, stratum_index), values)
    return sums


def _resample_counts(n_clusters: int, resamples: int, seed_parts: tuple[object, ...]) -> np.ndarray:
    rng = make_rng("bootstrap", *seed_parts)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=resamples)


def _ratio(totals: np.ndarray, scale: float, offset: int = 0) -> np.ndarray:
    """Mean over strata of num / den from totals shaped (..., strata, k) at columns offset, offset+1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return scale * np.mean(totals[..., offset] / totals[..., offset + 1], axis=-1)


def _strata(strata: Sequence[str] | None, n: int) -> Sequence[str]:
    return strata if strata is not None else [""] * n


def bootstrap_ratio(clusters: Sequence[str], num: np.ndarray, den: np.ndarray, *, strata: Sequence[str] | None = None,
                    scale: float = 1.0, resamples: int = DEFAULT_RESAMPLES, seed: object = 0,
                    level: float = 0.95) -> Estimate:
    """Point estimate and percentile CI of ``scale * sum(num) / sum(den)`` (mean over strata)."""
    sums = cluster_sums(clusters, _strata(strata, len(num)), np.column_stack([num, den]).astype(float))
    n_clusters = sums.shape[0]
    value = float(_ratio(sums.sum(axis=0), scale))
    if n_clusters < 2:
        return Estimate(value, float("nan"), float("nan"), len(num), n_clusters)
    counts = _resample_counts(n_clusters, resamples, (seed, n_clusters))
    stats = _ratio(np.einsum("bc,csk->bsk", counts, sums), scale)
    low, high = np.nanquantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(value, float(low), float(high), len(num), n_clusters)


def paired_bootstrap(clusters: Sequence[str], num: np.ndarray, den: np.ndarray, base_num: np.ndarray,
                     base_den: np.ndarray, *, strata: Sequence[str] | None = None, scale: float = 1.0,
                     resamples: int = DEFAULT_RESAMPLES, seed: object = 0, level: float = 0.95) -> PairedTest:
    """Difference of the metric between a model and a baseline scored on the same items; both are
    recomputed from one shared resample of images per draw, so the pairing is kept."""
    values = np.column_stack([num, den, base_num, base_den]).astype(float)
    sums = cluster_sums(clusters, _strata(strata, len(num)), values)
    totals = sums.sum(axis=0)
    diff = float(_ratio(totals, scale) - _ratio(totals, scale, offset=2))
    if sums.shape[0] < 2:
        return PairedTest(diff, float("nan"), float("nan"), float("nan"), len(num))
    counts = _resample_counts(sums.shape[0], resamples, (seed, "paired", sums.shape[0]))
    draws = np.einsum("bc,csk->bsk", counts, sums)
    deltas = _ratio(draws, scale) - _ratio(draws, scale, offset=2)
    deltas = deltas[~np.isnan(deltas)]
    low, high = np.quantile(deltas, [(1 - level) / 2, (1 + level) / 2])
    # Two-sided percentile p-value: how often the resampled difference lands on the other side of 0.
    # (+1 in numerator and denominator: a finite resample never reports p = 0.)
    other_side = min(int(np.sum(deltas <= 0)), int(np.sum(deltas >= 0)))
    p_value = float(min(1.0, 2 * (other_side + 1) / (len(deltas) + 1)))
    return PairedTest(diff, float(low), float(high), p_value, len(num))
