"""Representation figures: one PCA basis for every panel, histograms and titles that render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from robustbench_mllm.metrics.representation_plots import cosine_histograms, pca_scatters, shared_projection


def test_every_panel_is_drawn_in_one_basis_fitted_on_clean_and_all_variants(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(40, 8))
    variants = {"frost_s1": clean + 0.5, "frost_s5": clean + rng.normal(size=(40, 8)) + 3.0}
    p_clean, shifted, explained = shared_projection(clean, variants)
    # the basis by the stated rule: SVD of the union of all sets, centred on its mean
    union = np.vstack([clean, *variants.values()])
    _, singular, vt = np.linalg.svd(union - union.mean(0), full_matrices=False)
    for points, states in ((p_clean, clean), *((shifted[k], v) for k, v in variants.items())):
        expected = (states - union.mean(0)) @ vt[:2].T
        assert np.allclose(np.abs(points), np.abs(expected))  # up to the sign of each axis
    assert np.allclose(explained, singular[:2] ** 2 / (singular**2).sum())
    # one basis: the further-shifted variant lies further from clean on the shared axes
    centre = p_clean.mean(0)
    assert np.linalg.norm(shifted["frost_s5"].mean(0) - centre) > np.linalg.norm(shifted["frost_s1"].mean(0) - centre)
    for made in (pca_scatters(clean, variants, "tiny, layer 2", tmp_path / "pca.png"),
                 cosine_histograms({k: rng.random(40) for k in variants}, "tiny, layer 2", tmp_path / "cos.png")):
        with Image.open(made) as image:
            assert image.size[0] > 400 and np.asarray(image.convert("L")).std() > 10
