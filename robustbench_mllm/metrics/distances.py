"""Paired distances and a 2-D projection for clean vs perturbed representations."""

from __future__ import annotations

import numpy as np


def paired_cosine_distances(clean: np.ndarray, shifted: np.ndarray) -> np.ndarray:
    """1 - cos(clean_i, shifted_i) per row (rows are the same items in both arrays)."""
    a = np.asarray(clean, dtype=np.float64)
    b = np.asarray(shifted, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired rows needed, got shapes {a.shape} and {b.shape}")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return 1.0 - (a * b).sum(1) / np.maximum(norms, 1e-12)


def distance_summary(distances: np.ndarray) -> dict[str, float]:
    return {"mean": float(distances.mean()), "std": float(distances.std()),
            "median": float(np.median(distances)), "max": float(distances.max())}


def pca_2d(*sets: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Project every set on the top two principal axes of their union (centred on its mean).

    Returns the projected sets and the explained-variance ratio of the two axes."""
    pooled = np.vstack([np.asarray(s, dtype=np.float64) for s in sets])
    centred = pooled - pooled.mean(0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2].T
    if axes.shape[1] < 2:  # a single row or dimension: pad the missing axis with zeros
        axes = np.hstack([axes, np.zeros((axes.shape[0], 2 - axes.shape[1]))])
    total = float((singular**2).sum()) or 1.0
    explained = np.zeros(2)
    explained[: min(2, len(singular))] = (singular[:2] ** 2) / total
    projected = centred @ axes
    out, start = [], 0
    for s in sets:
        out.append(projected[start:start + len(s)])
        start += len(s)
    return out, explained
