"""PNG figures for representation shift: per-variant histograms of paired cosine distances and
2-D PCA scatters of clean vs perturbed (matplotlib, Agg backend, no display needed)."""

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


def _grid(n: int) -> tuple[Figure, list[Axes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _save(fig: Figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def cosine_histograms(distances: Mapping[str, np.ndarray], title: str, path: Path) -> Path:
    """One panel per variant: histogram of 1 - cos(clean_i, variant_i), its mean marked."""
    fig, axes = _grid(len(distances))
    upper = max(float(d.max()) for d in distances.values()) if distances else 1.0
    bins = np.linspace(0.0, max(upper, 1e-6), 21)
    for ax, (variant, values) in zip(axes, distances.items()):
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.8)
        ax.axvline(values.mean(), color="tab:red", linestyle="--")
        ax.set_title(f"{variant}\nmean {values.mean():.3f}", fontsize=9)
        ax.set_xlabel("cosine distance to clean", fontsize=8)
        ax.set_ylabel("items", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def pca_scatters(clean: np.ndarray, variants: Mapping[str, np.ndarray], title: str, path: Path) -> Path:
    """One panel per variant: clean and perturbed states on the top-2 PCA axes of their union."""
    fig, axes = _grid(len(variants))
    for ax, (variant, states) in zip(axes, variants.items()):
        (p_clean, p_shift), explained = pca_2d(clean, states)
        ax.scatter(p_clean[:, 0], p_clean[:, 1], s=10, label="clean", alpha=0.7)
        ax.scatter(p_shift[:, 0], p_shift[:, 1], s=10, label=variant, alpha=0.7, marker="x")
        ax.set_title(f"{variant} (PC1 {explained[0]:.0%}, PC2 {explained[1]:.0%})", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)
