"""PNG figures for representation shift: per-variant histograms of paired cosine distances and
2-D PCA scatters of clean vs perturbed (matplotlib, Agg backend, no display needed).

Every PCA panel is drawn in ONE basis, fitted once on clean and all variants together, with the
same axis limits, so a cloud that moves further from clean in one panel really moved further.
Figures use constrained layout, so the title never overlaps the panel titles.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robustbench_mllm.io_utils import atomic_write_bytes
from robustbench_mllm.metrics.distances import pca_2d

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _grid(n: int, *, share: bool = False) -> tuple[Figure, list[Axes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows + 0.5), squeeze=False,
                             sharex=share, sharey=share, layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _save(fig: Figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def cosine_histograms(distances: Mapping[str, np.ndarray], title: str, path: Path) -> Path:
    """One panel per variant: histogram of 1 - cos(clean_i, variant_i), its mean marked and
    named in the legend; every panel on the same bins."""
    fig, axes = _grid(len(distances))
    upper = max(float(d.max()) for d in distances.values()) if distances else 1.0
    bins = list(np.linspace(0.0, max(upper, 1e-6), 21))
    for ax, (variant, values) in zip(axes, distances.items(), strict=False):
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.8, label=f"{len(values)} items")
        ax.axvline(values.mean(), color="tab:red", linestyle="--", label=f"mean {values.mean():.3f}")
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("cosine distance to clean", fontsize=8)
        ax.set_ylabel("items", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: cosine distance of each item to its clean state")
    return _save(fig, path)


def shared_projection(clean: np.ndarray, variants: Mapping[str, np.ndarray]
                      ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Clean and every variant on the top-2 principal axes of all of them together (one basis),
    and the explained-variance ratio of the two axes."""
    names = list(variants)
    projected, explained = pca_2d(clean, *(variants[name] for name in names))
    return projected[0], dict(zip(names, projected[1:], strict=True)), explained


def pca_scatters(clean: np.ndarray, variants: Mapping[str, np.ndarray], title: str, path: Path) -> Path:
    """One panel per variant: clean and perturbed states on the top-2 PCA axes of clean and all
    variants together (one basis, one scale for every panel)."""
    p_clean, shifted, explained = shared_projection(clean, variants)
    names = list(shifted)
    fig, axes = _grid(len(names), share=True)
    for ax, variant, p_shift in zip(axes, names, shifted.values(), strict=False):
        ax.scatter(p_clean[:, 0], p_clean[:, 1], s=10, label="clean", alpha=0.6, color="tab:grey")
        ax.scatter(p_shift[:, 0], p_shift[:, 1], s=10, label=variant, alpha=0.8, marker="x", color="tab:orange")
        ax.set_title(variant, fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("PC1", fontsize=8)
        ax.set_ylabel("PC2", fontsize=8)
    fig.suptitle(f"{title}: PCA fitted once on clean + all variants "
                 f"(PC1 {explained[0]:.0%}, PC2 {explained[1]:.0%} of variance; same axes in every panel)")
    return _save(fig, path)
