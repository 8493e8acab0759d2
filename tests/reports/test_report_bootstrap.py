"""The image-clustered bootstrap: estimates, CI width under correlation, paired test, strata."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_mllm.reports.bootstrap import bootstrap_ratio, paired_bootstrap


def _clustered(n_images: int, per_image: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Items whose correctness is shared by every item of one image (perfect correlation)."""
    rng = np.random.default_rng(seed)
    per_cluster = rng.random(n_images) < 0.6
    clusters = [f"img{i}" for i in range(n_images) for _ in range(per_image)]
    return clusters, np.repeat(per_cluster.astype(float), per_image)


def test_ratio_estimate_and_ci_cover_the_value() -> None:
    clusters, correct = _clustered(40, 6, seed=1)
    est = bootstrap_ratio(clusters, correct, np.ones_like(correct), scale=100, resamples=500, seed=3)
    assert est.value == 100 * correct.mean()
    assert est.low < est.value < est.high
    assert (est.n_items, est.n_clusters) == (240, 40)
    again = bootstrap_ratio(clusters, correct, np.ones_like(correct), scale=100, resamples=500, seed=3)
    assert again == est  # seeded: the same CI every time


def test_clustering_by_image_widens_the_ci_of_correlated_items() -> None:
    clusters, correct = _clustered(40, 6, seed=2)
    by_image = bootstrap_ratio(clusters, correct, np.ones_like(correct), resamples=1000)
    by_item = bootstrap_ratio([str(i) for i in range(len(correct))], correct, np.ones_like(correct), resamples=1000)
    # 6 perfectly correlated copies carry the information of one: the CI is ~sqrt(6) wider.
    ratio = (by_image.high - by_image.low) / (by_item.high - by_item.low)
    assert 1.8 < ratio < 3.2


def test_strata_average_per_stratum_ratios() -> None:
    clusters = ["a", "b", "c", "a", "b", "c", "d"]
    strata = ["random"] * 3 + ["adversarial"] * 4
    correct = np.array([1, 1, 1, 1, 0, 0, 0], dtype=float)
    est = bootstrap_ratio(clusters, correct, np.ones(7), strata=strata, resamples=200)
    assert np.isclose(est.value, (1.0 + 0.25) / 2)


def test_f1_as_a_ratio_of_sums_matches_the_formula() -> None:
    tp = np.array([1, 1, 0, 0, 1], dtype=float)
    wrong = np.array([0, 0, 1, 1, 0], dtype=float)  # FP or FN
    est = bootstrap_ratio(list("abcde"), 2 * tp, 2 * tp + wrong, resamples=200)
    precision_recall_f1 = 2 * 3 / (2 * 3 + 2)
    assert np.isclose(est.value, precision_recall_f1)


def test_paired_test_detects_a_consistent_gain_and_not_a_tie() -> None:
    clusters, base = _clustered(60, 3, seed=4)
    ones = np.ones_like(base)
    better = base.copy()
    better[:60] = 1.0  # the model fixes the items of the first 20 images
    gain = paired_bootstrap(clusters, better, ones, base, ones, resamples=1000, seed=0)
    assert gain.diff > 0 and gain.low > 0 and gain.p_value < 0.01
    tie = paired_bootstrap(clusters, base, ones, base, ones, resamples=1000, seed=0)
    assert tie.diff == 0 and tie.p_value == 1.0


def test_single_cluster_gives_no_interval() -> None:
    est = bootstrap_ratio(["only", "only"], np.array([1.0, 0.0]), np.ones(2))
    assert est.value == 0.5 and np.isnan(est.low) and np.isnan(est.high)


def test_a_mean_over_variants_resamples_each_image_in_every_variant_at_once() -> None:
    from robustbench_mllm.reports.bootstrap import Group, bootstrap_mean_ratio, bootstrap_ratio

    rng = np.random.default_rng(3)
    clusters = [f"img{i // 3}" for i in range(60)]
    correct = (rng.random(60) < 0.7).astype(float)
    ones = np.ones(60)
    one = bootstrap_ratio(clusters, correct, ones, scale=100, resamples=500, seed=1)
    group = Group(clusters, [""] * 60, np.column_stack([correct, ones]))
    # two identical variants: the same images are drawn for both, so the mean's CI is the single CI
    twice = bootstrap_mean_ratio([group, group], scale=100, resamples=500, seed=1)
    assert (twice.value, twice.low, twice.high) == pytest.approx((one.value, one.low, one.high))
    # a variant and its complement (every answer flipped): perfectly anti-correlated, mean always 50
    flipped = Group(clusters, [""] * 60, np.column_stack([1 - correct, ones]))
    both = bootstrap_mean_ratio([group, flipped], scale=100, resamples=500, seed=1)
    assert both.value == pytest.approx(50.0) and both.high - both.low == pytest.approx(0.0)
