"""Visual corruptions as registry entries: names, parameters, determinism, sizes, input checks."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.perturbations.visual import VISUAL_PERTURBATIONS, VisualCorruption
from robustbench_mllm.perturbations.visual.blur import disk_kernel
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng

RANDOM_ONES = ("fog", "frost", "gaussian_noise", "shot_noise", "speckle_noise")
EXPECTED_CATEGORIES = {
    "defocus_blur": "blur", "zoom_blur": "blur", "contrast": "digital", "brightness": "weather",
    "fog": "weather", "frost": "weather", "gaussian_noise": "noise", "shot_noise": "noise",
    "speckle_noise": "noise",
}  # fmt: skip


def corruption(name: str) -> VisualCorruption:
    pert = load_registry("perturbations").get(name)
    assert isinstance(pert, VisualCorruption)
    return pert


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.chelsea()[::4, ::4])  # 75x113, a real photo


def test_the_nine_are_registered_with_modality_category_and_params() -> None:
    registry = load_registry("perturbations")
    for name in VISUAL_PERTURBATIONS:
        pert = corruption(name)
        assert name in registry and pert.name == name
        assert pert.modality == "visual"
        assert pert.category == EXPECTED_CATEGORIES[name]
        texts = [pert.params(s) for s in range(1, 6)]
        assert all(texts) and len(set(texts)) == 5, texts  # every severity differs
    assert corruption("gaussian_noise").params(3) == "sigma=0.18"
    assert corruption("zoom_blur").params(1) == "zoom=1..1.11 step 0.01 (12 layers)"
    with pytest.raises(ValueError, match="severity"):
        corruption("fog").params(6)


def test_cli_lists_the_visual_perturbations() -> None:
    result = CliRunner().invoke(app, ["list", "perturbations"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in VISUAL_PERTURBATIONS:
        assert name in result.output
    assert "radius=6, alias_blur=0.5" in result.output


@pytest.mark.parametrize("name", VISUAL_PERTURBATIONS)
def test_fast_engine_is_deterministic_and_changes_the_image(name: str, photo: np.ndarray) -> None:
    pert = corruption(name)
    first = pert.apply(photo, 3, make_rng(0, name, 3, "chelsea"))
    again = pert.apply(photo, 3, make_rng(0, name, 3, "chelsea"))
    assert first.dtype == np.uint8 and first.shape == photo.shape
    assert first.tobytes() == again.tobytes()
    assert np.abs(first.astype(int) - photo).mean() > 1.0
    if name in RANDOM_ONES:
        other = pert.apply(photo, 3, make_rng(1, name, 3, "chelsea"))
        assert other.tobytes() != first.tobytes()


@pytest.mark.parametrize("name", VISUAL_PERTURBATIONS)
def test_severity_increases_the_change(name: str, photo: np.ndarray) -> None:
    pert = corruption(name)
    change = [
        np.abs(pert.apply(photo, s, make_rng(7, name, s)).astype(int) - photo).mean()
        for s in (1, 5)
    ]
    assert change[0] < change[1], change


def test_reference_engine_is_deterministic_and_restores_numpy_global_state(
    photo: np.ndarray,
) -> None:
    pert = corruption("gaussian_noise")
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = pert.apply_reference(photo, 2, make_rng(5))
    assert np.random.random() == expected_next  # the caller's global stream is untouched
    assert first.tobytes() == pert.apply_reference(photo, 2, make_rng(5)).tobytes()
    assert first.tobytes() != pert.apply_reference(photo, 2, make_rng(6)).tobytes()


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 2), (17, 31), (31, 31), (2, 300)])
def test_fast_engine_handles_tiny_images(shape: tuple[int, int], photo: np.ndarray) -> None:
    img = np.ascontiguousarray(photo[: shape[0], : shape[1]])
    for name in VISUAL_PERTURBATIONS:
        for severity in (1, 5):
            out = corruption(name).apply(img, severity, make_rng(name, severity, shape))
            assert out.shape == img.shape and out.dtype == np.uint8, name


def test_reference_engine_rejects_tiny_images_clearly(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="at least 32x32.*fast engine"):
        corruption("frost").apply_reference(photo[:31], 1, make_rng(0))


def test_spatial_corruptions_leave_a_flat_image_flat() -> None:
    flat = np.full((9, 13, 3), (200, 90, 30), dtype=np.uint8)
    for name in ("defocus_blur", "zoom_blur", "contrast"):
        out = corruption(name).apply(flat, 3, make_rng(0))
        assert np.abs(out.astype(int) - flat).max() <= 1, name  # at most float truncation
    # The reference's radius-10 kernel sums to more than 1 (see disk_kernel): a flat image
    # brightens by exactly that factor.
    gain = float(disk_kernel(10, 0.5).sum())
    assert gain > 1.005
    brightened = corruption("defocus_blur").apply(flat, 5, make_rng(0))
    assert (np.abs(brightened.astype(float) - np.floor(flat * gain)) <= 1).all()


def test_brightness_of_black_is_grey_shift() -> None:
    black = np.zeros((4, 4, 3), dtype=np.uint8)
    assert (corruption("brightness").apply(black, 3, make_rng(0)) == 76).all()  # 0.3 * 255


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_bad_arrays_are_rejected(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        corruption("contrast").apply(bad, 1, make_rng(0))


# (corruption, image height x width, allowed peak of NumPy/OpenCV allocations / image bytes):
# the table lookups allocate little more than the output; zoom_blur keeps one float32 copy (4x).
@pytest.mark.parametrize(
    ("name", "shape", "bound"),
    [
        ("contrast", (6000, 8000), 1.5),
        ("brightness", (6000, 8000), 1.5),
        ("zoom_blur", (1200, 1600), 5.5),
        ("gaussian_noise", (1200, 1600), 1.5),
    ],
)
def test_large_photo_in_bounded_memory(
    name: str, shape: tuple[int, int], bound: float, photo: np.ndarray
) -> None:
    reps = (shape[0] // photo.shape[0] + 1, shape[1] // photo.shape[1] + 1, 1)
    big = np.ascontiguousarray(np.tile(photo, reps)[: shape[0], : shape[1]])
    tracemalloc.start()
    try:
        out = corruption(name).apply(big, 3, make_rng(0))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == big.shape and out.dtype == np.uint8
    assert peak < bound * big.nbytes, (
        f"peak {peak / 2**20:.0f} MiB, image {big.nbytes / 2**20:.0f} MiB"
    )
    if name == "brightness":  # pointwise, so a crop gives the crop of the result
        crop = np.ascontiguousarray(big[:50, :200])
        assert (corruption(name).apply(crop, 3, make_rng(0)) == out[:50, :200]).all()


def test_poisson_lookup_sampler_draws_the_poisson_distribution() -> None:
    from math import exp, factorial

    from robustbench_mllm.perturbations.visual.noise import poisson_tables, sample_poisson_grey

    photons, grey_level, n = 12, 128, 120_000
    tables = poisson_tables(photons)
    grey = sample_poisson_grey(np.full((n // 3, 1, 3), grey_level, np.uint8), tables, make_rng(0))
    counts = np.searchsorted(tables.grey, grey.ravel())  # grey levels are distinct up to 12
    rate = grey_level / 255 * photons
    for k in range(photons):
        pmf = exp(-rate) * rate**k / factorial(k)
        tolerance = 5 * np.sqrt(pmf * (1 - pmf) / n) + 1e-4
        assert abs(np.mean(counts == k) - pmf) <= tolerance, k
    assert (sample_poisson_grey(np.zeros((4, 4, 3), np.uint8), tables, make_rng(1)) == 0).all()


def test_opencv_thread_count_does_not_change_the_bytes(photo: np.ndarray) -> None:
    import cv2

    img = np.ascontiguousarray(np.tile(photo, (3, 3, 1)))
    threads = cv2.getNumThreads()
    try:
        outputs = []
        for count in (1, 4):
            cv2.setNumThreads(count)
            outputs.append(
                [corruption(n).apply(img, 4, make_rng(n)).tobytes() for n in VISUAL_PERTURBATIONS]
            )
    finally:
        cv2.setNumThreads(threads)
    assert outputs[0] == outputs[1]
