"""Representation JSD against closed forms (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustbench_mllm.metrics.jsd import (
    LN2,
    gaussian_jsd,
    gaussian_kernel,
    gaussian_rff_jsd,
    jsd_with_baseline,
    kernel_jsd,
    linear_jsd,
    median_bandwidth,
)


def _unit_rows(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    x = rng.standard_normal((n, d)) + shift
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _binary_entropy(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_identical_sets_have_zero_jsd() -> None:
    a = _unit_rows(np.random.default_rng(0), 30, 12)
    assert linear_jsd(a, a) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_jsd(a, a, 0.8) == pytest.approx(0.0, abs=1e-12)


def test_jsd_is_symmetric_and_uses_per_set_normalisation() -> None:
    rng = np.random.default_rng(1)
    a, b = _unit_rows(rng, 20, 8), _unit_rows(rng, 70, 8, shift=0.5)
    assert linear_jsd(a, b) == pytest.approx(linear_jsd(b, a), abs=1e-12)
    # duplicating every row of one set changes its size, not its distribution
    assert linear_jsd(np.vstack([a, a, a]), b) == pytest.approx(linear_jsd(a, b), abs=1e-12)


def test_orthogonal_supports_give_ln2() -> None:
    rng = np.random.default_rng(2)
    a = np.hstack([rng.standard_normal((15, 3)), np.zeros((15, 3))])
    b = np.hstack([np.zeros((40, 3)), rng.standard_normal((40, 3))])
    assert linear_jsd(a, b) == pytest.approx(LN2, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_two_unit_vectors_give_binary_entropy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    u, v = _unit_rows(rng, 1, 16), _unit_rows(rng, 1, 16)
    expected = _binary_entropy((1 + abs(float((u @ v.T)[0, 0]))) / 2)
    assert linear_jsd(u, v) == pytest.approx(expected, abs=1e-9)


def test_covariance_and_gram_routes_agree() -> None:
    # few rows in many dimensions goes through the Gram form, many rows through covariances
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((12, 40)), rng.standard_normal((9, 40)) + 0.3
    assert linear_jsd(a, b) == pytest.approx(kernel_jsd(a @ a.T, b @ b.T, a @ b.T), abs=1e-10)
    a2, b2 = rng.standard_normal((60, 5)), rng.standard_normal((50, 5)) * 2
    assert linear_jsd(a2, b2) == pytest.approx(kernel_jsd(a2 @ a2.T, b2 @ b2.T, a2 @ b2.T), abs=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_rff_agrees_with_kernel_matrix_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((60, 16)), rng.standard_normal((50, 16)) + 0.3
    width = median_bandwidth(a, b)
    exact = gaussian_jsd(a, b, width)
    assert exact > 0.05  # a real difference, not a trivially small value
    assert abs(gaussian_rff_jsd(a, b, width, n_features=1024, seed=seed) - exact) < 5e-3


def test_gaussian_kernel_matches_definition() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    k = gaussian_kernel(a, b, 1.7)
    assert k[1, 0] == pytest.approx(math.exp(-np.sum((a[1] - b[0]) ** 2) / (2 * 1.7**2)), rel=1e-12)


def test_never_above_ln2() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        n, m, d = rng.integers(1, 12, size=3)
        a, b = rng.standard_normal((n, d)), rng.standard_normal((m, d)) * rng.uniform(0.1, 10)
        assert 0.0 <= linear_jsd(a, b) <= LN2
        assert 0.0 <= gaussian_jsd(a, b, median_bandwidth(a, b)) <= LN2


def test_baseline_sits_below_a_real_shift_and_near_same_distribution_values() -> None:
    rng = np.random.default_rng(6)
    a, same, shifted = _unit_rows(rng, 60, 10), _unit_rows(rng, 60, 10), _unit_rows(rng, 60, 10, 1.0)
    result = jsd_with_baseline(a, shifted, "linear", permutations=30, seed=1)
    assert result.value > result.baseline + 5 * result.baseline_std
    assert result.p_value == pytest.approx(1 / 31)
    null = jsd_with_baseline(a, same, "gaussian_rff", permutations=30, seed=1)
    assert null.p_value > 0.05
    assert jsd_with_baseline(a, shifted, "linear", permutations=30, seed=1) == result  # seeded


def test_pooled_split_route_equals_the_direct_functions() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((30, 50)), rng.standard_normal((25, 50)) + 0.2
    width = median_bandwidth(a, b)
    direct = {"linear": linear_jsd(a, b), "gaussian": gaussian_jsd(a, b, width),
              "gaussian_rff": gaussian_rff_jsd(a, b, width, n_features=256, seed=3)}
    for kind, expected in direct.items():
        got = jsd_with_baseline(a, b, kind, permutations=0, seed=3, n_features=256).value  # type: ignore[arg-type]
        assert got == pytest.approx(expected, abs=1e-12)
