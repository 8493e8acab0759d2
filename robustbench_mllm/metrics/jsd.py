"""Representation Jensen-Shannon divergence (von Neumann entropies of covariance operators).

Each set P is turned into a unit-trace density matrix rho_P = A^T A / (n_P * tr), where tr is the
mean squared feature norm (1 for L2-normalised embeddings and for Gaussian kernels, so rho_P is
exactly A^T A / n_P). Then JSD(P, Q) = S((rho_P + rho_Q) / 2) - (S(rho_P) + S(rho_Q)) / 2 with
S(rho) = -sum lambda log lambda. Normalising each set by its own size keeps the mixture weights
and the entropy weights equal (the official code's unnormalised A^T A with unequal set sizes does
not), so 0 <= JSD <= ln 2 holds exactly (Holevo).

Three forms: the linear kernel on raw features, the Gaussian kernel from kernel matrices, and the
Gaussian kernel from seeded random Fourier features. Every value comes with a permutation
baseline: the same statistic on random re-splits of the pooled sets (same sizes), i.e. the
finite-sample value when both sets come from one distribution.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.seeding import make_rng

LN2 = math.log(2.0)
JSDKind = Literal["linear", "gaussian", "gaussian_rff"]
JSD_KINDS: tuple[JSDKind, ...] = ("linear", "gaussian", "gaussian_rff")


def von_neumann_entropy(eigenvalues: np.ndarray) -> float:
    """-sum lambda log lambda of the eigenvalues normalised to sum 1 (roundoff negatives dropped)."""
    positive = eigenvalues[eigenvalues > 0]
    lam = positive / positive.sum()
    return float(-(lam * np.log(lam)).sum())


def _as_float64(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty (n, d) array, got shape {arr.shape}")
    return arr


def _clip_jsd(value: float) -> float:
    # Exact arithmetic keeps the value in [0, ln 2]; only eigen-solver roundoff leaves it.
    return min(max(value, 0.0), LN2)


def kernel_jsd(k_pp: np.ndarray, k_qq: np.ndarray, k_pq: np.ndarray) -> float:
    """JSD from kernel matrices: K_PP (n_p x n_p), K_QQ, and the cross block K_PQ (n_p x n_q).

    The nonzero eigenvalues of a covariance operator equal those of its weighted Gram matrix, so
    the mixture's spectrum is that of the block matrix with weights 1 / (2 n tr) per set.
    """
    w_p = 1.0 / np.trace(k_pp)  # = 1 / (n_p * mean diagonal)
    w_q = 1.0 / np.trace(k_qq)
    s_p = von_neumann_entropy(np.linalg.eigvalsh(k_pp * w_p))
    s_q = von_neumann_entropy(np.linalg.eigvalsh(k_qq * w_q))
    cross = k_pq * math.sqrt(w_p * w_q) / 2.0
    mixture = np.block([[k_pp * w_p / 2.0, cross], [cross.T, k_qq * w_q / 2.0]])
    s_m = von_neumann_entropy(np.linalg.eigvalsh(mixture))
    return _clip_jsd(s_m - (s_p + s_q) / 2.0)


def feature_jsd(f_p: np.ndarray, f_q: np.ndarray) -> float:
    """JSD of explicit feature sets (rows): covariances when the dimension is the smaller side,
    otherwise the equivalent Gram form."""
    f_p, f_q = _as_float64(f_p, "P"), _as_float64(f_q, "Q")
    if f_p.shape[1] != f_q.shape[1]:
        raise ValueError(f"feature dimensions differ: {f_p.shape[1]} vs {f_q.shape[1]}")
    if f_p.shape[1] >= f_p.shape[0] + f_q.shape[0]:
        return kernel_jsd(f_p @ f_p.T, f_q @ f_q.T, f_p @ f_q.T)
    c_p = f_p.T @ f_p
    c_q = f_q.T @ f_q
    c_p /= np.trace(c_p)
    c_q /= np.trace(c_q)
    s_p = von_neumann_entropy(np.linalg.eigvalsh(c_p))
    s_q = von_neumann_entropy(np.linalg.eigvalsh(c_q))
    s_m = von_neumann_entropy(np.linalg.eigvalsh((c_p + c_q) / 2.0))
    return _clip_jsd(s_m - (s_p + s_q) / 2.0)


def linear_jsd(a: np.ndarray, b: np.ndarray) -> float:
    """Linear-kernel representation JSD on the raw rows of ``a`` and ``b``."""
    return feature_jsd(a, b)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(sq, 0.0)


def median_bandwidth(a: np.ndarray, b: np.ndarray) -> float:
    """Median pairwise distance of the pooled rows (deterministic, invariant to re-splitting)."""
    pooled = np.vstack([_as_float64(a, "P"), _as_float64(b, "Q")])
    dist = np.sqrt(_squared_distances(pooled, pooled))
    off_diagonal = dist[~np.eye(len(pooled), dtype=bool)]
    median = float(np.median(off_diagonal)) if off_diagonal.size else 0.0
    return median if median > 0 else 1.0


def gaussian_kernel(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    """k(x, y) = exp(-|x - y|^2 / (2 s^2))."""
    return np.exp(-_squared_distances(a, b) / (2.0 * bandwidth**2))


def gaussian_jsd(a: np.ndarray, b: np.ndarray, bandwidth: float) -> float:
    """Gaussian-kernel JSD from the kernel matrices."""
    a, b = _as_float64(a, "P"), _as_float64(b, "Q")
    return kernel_jsd(gaussian_kernel(a, a, bandwidth), gaussian_kernel(b, b, bandwidth),
                      gaussian_kernel(a, b, bandwidth))


def random_fourier_features(x: np.ndarray, weights: np.ndarray, bandwidth: float) -> np.ndarray:
    """phi(x) = D^-1/2 [cos(W^T x / s), sin(W^T x / s)], so phi(x).phi(y) ~ k(x, y), |phi| = 1."""
    proj = x @ weights / bandwidth
    return np.hstack([np.cos(proj), np.sin(proj)]) / math.sqrt(weights.shape[1])


@functools.lru_cache(maxsize=8)
def rff_weights(dim: int, n_features: int, seed: int) -> np.ndarray:
    """Orthogonal random features (Yu et al. 2016): blocks of random rotations scaled by
    chi(dim) norms, so each column is still marginally N(0, I) but the columns within a block are
    orthogonal, which cuts the kernel approximation variance (about 3x lower JSD error than
    i.i.d. Gaussian columns at equal size on 64-d data). Shape (dim, n_features), seeded."""
    rng = make_rng(seed, "orthogonal-rff", dim, n_features)
    blocks = []
    for _ in range(-(-n_features // dim)):
        rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        blocks.append(rotation * np.sqrt(rng.chisquare(dim, size=dim))[None, :])
    weights = np.hstack(blocks)[:, :n_features]
    weights.flags.writeable = False  # shared by the cache
    return weights


def gaussian_rff_jsd(
    a: np.ndarray, b: np.ndarray, bandwidth: float, n_features: int = 1024, seed: int = 0
) -> float:
    """Gaussian-kernel JSD through ``n_features`` seeded random frequencies (2 x that many features).

    Accuracy against :func:`gaussian_jsd` (benchmarks/RESULTS_rff.md, 60 vs 50 rows, 10 seeds): the
    error is mostly a negative bias (noise in the approximate Gram matrix spreads its spectrum).
    With 1024 frequencies it stays within 5e-3 on 4- to 768-d data; with 256 it reaches 0.006-0.012
    (4-64-d) and 0.024 (768-d). A jackknife bias correction over the two halves of the frequencies
    removes the bias but not the spread (still up to 0.0085 at 256), so it is not used. Where exact
    numbers matter at these set sizes, use the kernel-matrix form (``gaussian``): it is exact and
    no slower for a few hundred rows."""
    a, b = _as_float64(a, "P"), _as_float64(b, "Q")
    weights = rff_weights(a.shape[1], n_features, seed)
    return feature_jsd(random_fourier_features(a, weights, bandwidth),
                       random_fourier_features(b, weights, bandwidth))


@dataclass(frozen=True)
class JSDResult:
    """A JSD value beside its same-distribution (permutation) baseline."""

    kind: str
    value: float
    baseline: float  # mean over re-splits of the pooled sets
    baseline_std: float
    p_value: float  # (1 + #re-splits >= value) / (1 + permutations)
    n_p: int
    n_q: int

    def to_dict(self) -> dict[str, float | int | str]:
        return dict(self.__dict__)


def _pooled_split_jsd(
    a: np.ndarray, b: np.ndarray, kind: JSDKind, bandwidth: float, n_features: int, seed: int
) -> Callable[[np.ndarray], float]:
    """JSD of the split (order[:n_a], order[n_a:]) of the pooled rows of ``a`` and ``b``.

    Kernel (Gram) matrices or features are computed once for the pooled rows, so each re-split
    for the baseline costs only the eigen-decompositions."""
    pooled = np.vstack([a, b])
    n_p = len(a)
    if kind == "gaussian":
        features, gram = None, gaussian_kernel(pooled, pooled, bandwidth)
    elif kind in ("linear", "gaussian_rff"):
        features = pooled if kind == "linear" else random_fourier_features(
            pooled, rff_weights(pooled.shape[1], n_features, seed), bandwidth)
        gram = features @ features.T if features.shape[1] >= len(pooled) else None
    else:
        raise ConfigError(f"unknown JSD kind {kind!r}; choose from {', '.join(JSD_KINDS)}")

    def split_jsd(order: np.ndarray) -> float:
        if gram is None:  # few dimensions, many rows: covariances are the smaller matrices
            return feature_jsd(features[order[:n_p]], features[order[n_p:]])  # type: ignore[index]
        g = gram[np.ix_(order, order)]
        return kernel_jsd(g[:n_p, :n_p], g[n_p:, n_p:], g[:n_p, n_p:])

    return split_jsd


def jsd_with_baseline(
    a: np.ndarray,
    b: np.ndarray,
    kind: JSDKind = "linear",
    *,
    permutations: int = 20,
    seed: int = 0,
    bandwidth: float | None = None,
    n_features: int = 1024,
) -> JSDResult:
    """JSD(a, b) of ``kind`` and its permutation baseline: the same statistic on ``permutations``
    seeded random splits of the pooled rows into sets of the same sizes. The Gaussian bandwidth
    defaults to the pooled median distance, fixed before re-splitting so every split uses the same
    kernel (and, for random features, the same frequencies)."""
    from threadpoolctl import threadpool_limits

    a, b = _as_float64(a, "P"), _as_float64(b, "Q")
    n = len(a) + len(b)
    rng = make_rng(seed, "jsd-permutation", len(a), len(b))
    # Small dense problems: BLAS threads only add synchronisation (measured 10-50x slower with
    # threads than without on a busy 2-core machine for 90 + 90 rows of 768-d).
    with threadpool_limits(limits=1, user_api="blas"):
        width = bandwidth if bandwidth is not None else median_bandwidth(a, b)
        split_jsd = _pooled_split_jsd(a, b, kind, width, n_features, seed)
        value = split_jsd(np.arange(n))
        null = np.asarray([split_jsd(rng.permutation(n)) for _ in range(permutations)])
    return JSDResult(
        kind=kind,
        value=value,
        baseline=float(null.mean()) if null.size else float("nan"),
        baseline_std=float(null.std()) if null.size else float("nan"),
        p_value=float((1 + (null >= value).sum()) / (1 + null.size)),
        n_p=len(a),
        n_q=len(b),
    )
