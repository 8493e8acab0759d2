"""How close the random-Fourier-feature JSD comes to the exact Gaussian-kernel JSD, by feature count.

For 60 vs 50 rows (N(0, I) vs N(shift, I), shift 0.3, or 0.1 at 768-d so the JSD stays well below
ln 2), bandwidth = pooled median distance, ``--seeds`` data/feature seeds: the mean (signed) and
the largest absolute error of ``gaussian_rff_jsd`` against ``gaussian_jsd`` for i.i.d. Gaussian
frequencies, orthogonal frequencies (what the package uses), and orthogonal frequencies with a
jackknife bias correction 2 J(D) - mean(J(first D/2), J(last D/2)).

    python benchmarks/bench_rff.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robustbench_mllm.metrics.jsd import (  # noqa: E402
    feature_jsd,
    gaussian_jsd,
    median_bandwidth,
    random_fourier_features,
    rff_weights,
)

Frequencies = Callable[[int, int, int], np.ndarray]


def _rff_jsd(a: np.ndarray, b: np.ndarray, weights: np.ndarray, width: float) -> float:
    return feature_jsd(random_fourier_features(a, weights, width), random_fourier_features(b, weights, width))


def _iid(dim: int, n_features: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((dim, n_features))


def _errors(dim: int, n_features: int, seeds: int, frequencies: Frequencies, jackknife: bool) -> np.ndarray:
    errors = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        a, b = rng.standard_normal((60, dim)), rng.standard_normal((50, dim)) + (0.3 if dim < 100 else 0.1)
        width = median_bandwidth(a, b)
        weights = frequencies(dim, n_features, seed + 100)
        value = _rff_jsd(a, b, weights, width)
        if jackknife:
            half = n_features // 2
            halves = (_rff_jsd(a, b, weights[:, :half], width), _rff_jsd(a, b, weights[:, half:], width))
            value = 2 * value - float(np.mean(halves))
        errors.append(value - gaussian_jsd(a, b, width))
    return np.asarray(errors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    methods = (("iid", _iid, False), ("orthogonal", rff_weights, False), ("orthogonal+jackknife", rff_weights, True))
    print(f"error of RFF JSD vs kernel-matrix JSD, 60 vs 50 rows, {args.seeds} seeds: mean (signed) / max |error|")
    print(f"{'dim':>4} {'D':>5} " + " ".join(f"{name:>22}" for name, _, _ in methods))
    with threadpool_limits(limits=1, user_api="blas"):
        for dim in (4, 16, 64, 768):
            for n_features in (256, 512, 1024):
                cells = []
                for _, frequencies, jackknife in methods:
                    err = _errors(dim, n_features, args.seeds, frequencies, jackknife)
                    cells.append(f"{err.mean():+.4f} / {np.abs(err).max():.4f}")
                print(f"{dim:>4} {n_features:>5} " + " ".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
