"""The fast engine against imagecorruptions (the reference engine) on real photos.

- Deterministic corruptions: mean absolute difference <= 1 grey level.
- Noises: per-image mean and std of (output - input) within 5% of the reference's. A mean near 0
  makes a relative 5% meaningless, so means are compared on the scale of the change itself:
  |mean_fast - mean_ref| <= 5% of max(|mean_ref|, std_ref).
- Fog and frost vary more between two draws of one engine than 5% (the fractal's low frequencies,
  which of six frost photos is drawn), so a single-draw comparison says nothing. We test (a) the
  formula: fed the reference's own draws, the fast code reproduces its output to <= 1 grey level
  on average; (b) the distribution: the same 5% criterion on averages over many draws (frost
  stratified by texture so the luck of the texture counts does not dominate).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from robustbench_mllm.perturbations.visual import fog, frost
from robustbench_mllm.perturbations.visual.engine import VisualCorruption
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng

PHOTOS = ("astronaut", "chelsea", "coffee")
SEVERITIES = (1, 3, 5)


def corruption(name: str) -> VisualCorruption:
    pert = load_registry("perturbations").get(name)
    assert isinstance(pert, VisualCorruption)
    return pert


@functools.cache
def photo(name: str, side: int = 224) -> np.ndarray:
    from skimage import data, transform

    resized = transform.resize(getattr(data, name)(), (side, side), anti_aliasing=True)
    return (resized * 255).astype(np.uint8)


def change_stats(out: np.ndarray, img: np.ndarray) -> tuple[float, float]:
    diff = out.astype(np.float64) - img
    return float(diff.mean()), float(diff.std())


def assert_stats_close(fast: tuple[float, float], ref: tuple[float, float], label: str) -> None:
    (fast_mean, fast_std), (ref_mean, ref_std) = fast, ref
    assert abs(fast_std - ref_std) <= 0.05 * ref_std, f"{label}: std {fast_std} vs {ref_std}"
    scale = max(abs(ref_mean), ref_std)
    assert abs(fast_mean - ref_mean) <= 0.05 * scale, f"{label}: mean {fast_mean} vs {ref_mean}"


@pytest.mark.parametrize("name", ["defocus_blur", "zoom_blur", "contrast", "brightness"])
def test_deterministic_corruptions_match_within_one_grey_level(name: str) -> None:
    pert = corruption(name)
    for photo_name in PHOTOS:
        img = photo(photo_name)
        for severity in SEVERITIES:
            fast = pert.apply(img, severity, make_rng(0))
            ref = pert.apply_reference(img, severity, make_rng(0))
            mad = np.abs(fast.astype(np.float64) - ref).mean()
            assert mad <= 1.0, f"{name} s{severity} {photo_name}: MAD {mad:.3f}"


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "speckle_noise"])
def test_noise_statistics_match_within_5_percent(name: str) -> None:
    pert = corruption(name)
    for photo_name in PHOTOS:
        img = photo(photo_name)
        for severity in SEVERITIES:
            fast = change_stats(pert.apply(img, severity, make_rng(1, photo_name)), img)
            ref = change_stats(pert.apply_reference(img, severity, make_rng(2, photo_name)), img)
            assert_stats_close(fast, ref, f"{name} s{severity} {photo_name}")


def reference_seed(rng_parts: tuple[object, ...]) -> int:
    """The global NumPy seed that ``apply_reference`` derives from ``make_rng(*rng_parts)``."""
    return int(make_rng(*rng_parts).integers(2**32))


@pytest.mark.parametrize("severity", SEVERITIES)
def test_fog_formula_matches_given_the_reference_fractal(severity: int) -> None:
    pert = corruption("fog")
    level = pert.level(severity)
    for photo_name in PHOTOS:
        img = photo(photo_name)
        ref = pert.apply_reference(img, severity, make_rng(3, photo_name))
        legacy = np.random.RandomState(reference_seed((3, photo_name)))
        fractal = fog.plasma_fractal(fog.fog_size(*img.shape[:2]), level["decay"], legacy.uniform)
        fast = fog.add_fog(img, level, fractal)
        assert np.abs(fast.astype(np.float64) - ref).mean() <= 1.0, photo_name


@pytest.mark.parametrize("severity", SEVERITIES)
def test_frost_formula_matches_given_the_reference_placement(severity: int) -> None:
    pert = corruption("frost")
    for photo_name in PHOTOS:
        img = photo(photo_name)
        ref = pert.apply_reference(img, severity, make_rng(4, photo_name))
        # Replay the reference's draws: texture index, then the crop's top and left.
        legacy = np.random.RandomState(reference_seed((4, photo_name)))
        texture = int(legacy.randint(6))
        height, width = frost.frost_scale(img.shape[:2], frost.frost_texture(texture).shape[:2])
        top, left = (
            int(legacy.randint(0, height - img.shape[0])),
            int(legacy.randint(0, width - img.shape[1])),
        )
        placement = frost.FrostPlacement(texture, height, width, top, left)
        fast = frost.blend_frost(
            img, pert.level(severity), frost.frost_layer(img.shape[:2], placement)
        )
        assert np.abs(fast.astype(np.float64) - ref).mean() <= 1.0, photo_name


@pytest.mark.slow  # hundreds of reference draws
def test_fog_statistics_over_draws_match_within_5_percent() -> None:
    pert, img, draws = corruption("fog"), photo("coffee", 32), 400
    fast = [change_stats(pert.apply(img, 3, make_rng("fog", i)), img) for i in range(draws)]
    ref = [
        change_stats(pert.apply_reference(img, 3, make_rng("ref", i)), img) for i in range(draws)
    ]
    assert_stats_close(tuple(np.mean(fast, axis=0)), tuple(np.mean(ref, axis=0)), "fog s3 coffee")


@pytest.mark.slow  # hundreds of reference draws
def test_frost_statistics_over_draws_match_within_5_percent() -> None:
    pert, img, draws = corruption("frost"), photo("astronaut", 32), 240
    fast: dict[int, list[tuple[float, float]]] = {t: [] for t in range(len(frost.FROST_FILES))}
    ref: dict[int, list[tuple[float, float]]] = {t: [] for t in range(len(frost.FROST_FILES))}
    for i in range(draws):
        fast_texture = frost.draw_placement(img.shape[:2], make_rng("frost", i)).texture
        fast[fast_texture].append(change_stats(pert.apply(img, 3, make_rng("frost", i)), img))
        ref_texture = int(np.random.RandomState(reference_seed(("ref", i))).randint(6))
        ref[ref_texture].append(change_stats(pert.apply_reference(img, 3, make_rng("ref", i)), img))

    def stratified(groups: dict[int, list[tuple[float, float]]]) -> tuple[float, float]:
        assert all(groups.values()), "every texture must be drawn at least once"
        mean, std = np.mean([np.mean(g, axis=0) for g in groups.values()], axis=0)
        return float(mean), float(std)

    assert_stats_close(stratified(fast), stratified(ref), "frost s3 astronaut (per texture)")
