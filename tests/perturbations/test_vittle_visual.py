"""The ``vittle`` protocol's visual corruptions state MM_Robustness's behaviour (PROTOCOL_FACTS 1)
on our own images; every expected value is computed here from the stated rule."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.perturbations.base import perturbation_for
from robustbench_mllm.perturbations.visual import VISUAL_PERTURBATIONS, mm_frost
from robustbench_mllm.perturbations.visual.frost import frost_dir
from robustbench_mllm.perturbations.visual.pixels import to_uint8
from robustbench_mllm.registry import load_registry

# MM_Robustness's frost1-5 sizes (H, W) and its zoom_blur lists (np.arange(1, stop, step))
MM_SIZES = ((1200, 1800), (1012, 1800), (1012, 1800), (1195, 1800), (1350, 1800))
MM_ZOOMS = ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.33, 0.03))


def vittle(name: str):  # noqa: ANN201 (a VisualCorruption)
    load_registry("perturbations")
    return perturbation_for(name, "vittle")


def photo(height: int = 120, width: int = 160) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA))


def half_even(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def test_every_visual_corruption_has_a_vittle_version_that_rounds_half_to_even() -> None:
    load_registry("perturbations")
    for name in VISUAL_PERTURBATIONS:
        assert perturbation_for(name, "vittle") is not perturbation_for(name, "canonical")
        assert perturbation_for(name, "vittle").rounding == "half_even"
    grey = np.array([0.5, 1.5, 2.5, 127.5, 254.5, 255.5, -3.0, 300.0, 7.49])
    assert to_uint8(grey.copy(), rounding="half_even").tolist() == [0, 2, 2, 128, 254, 255, 0, 255, 7]
    assert to_uint8(grey.copy()).tolist() == [0, 1, 2, 127, 254, 255, 0, 255, 7]


def test_contrast_rounds_the_formula_half_to_even_not_down() -> None:
    img = photo()
    x = img / 255.0
    expected = half_even((np.clip((x - x.mean(axis=(0, 1))) * 0.05 + x.mean(axis=(0, 1)), 0, 1)) * 255)
    out = vittle("contrast").apply(img, 5, np.random.default_rng(0))
    assert np.abs(out.astype(int) - expected).max() <= 1 and (out == expected).mean() > 0.999
    truncated = (np.clip((x - x.mean(axis=(0, 1))) * 0.05 + x.mean(axis=(0, 1)), 0, 1) * 255).astype(np.uint8)
    assert (out != truncated).mean() > 0.2  # imagecorruptions' truncation would be a different image


def _clipped_zoom(x: np.ndarray, z: float) -> np.ndarray:
    """The stated rule: centre crop ceil(h/z) x ceil(w/z), scipy linear zoom, centre trim."""
    from scipy.ndimage import zoom

    h, w = x.shape[:2]
    ch, cw = math.ceil(h / z), math.ceil(w / z)
    crop = x[(h - ch) // 2 : (h - ch) // 2 + ch, (w - cw) // 2 : (w - cw) // 2 + cw]
    zoomed = zoom(crop, (z, z, 1), order=1)
    th, tw = (zoomed.shape[0] - h) // 2, (zoomed.shape[1] - w) // 2
    return zoomed[th : th + h, tw : tw + w]


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_zoom_blur_averages_the_image_with_mm_robustness_zoom_layers(severity: int) -> None:
    stop, step = MM_ZOOMS[severity - 1]
    factors = np.arange(1, stop, step)
    if severity == 5:
        assert len(factors) == 12 and round(factors[-1], 2) == 1.33  # 12 layers, so divide by 13
    pert = vittle("zoom_blur")
    assert f"({len(factors)} layers)" in pert.params(severity) and f"{factors[-1]:.2f}" in pert.params(severity)
    img = photo()
    x = (img / 255.0).astype(np.float32)
    expected = half_even(np.clip((x + sum(_clipped_zoom(x, float(z)) for z in factors)) / (len(factors) + 1), 0, 1) * 255)
    out = pert.apply(img, severity, np.random.default_rng(0))
    diff = np.abs(out.astype(int) - expected)
    assert diff.max() <= 1 and diff.mean() < 0.02
    if severity == 5:  # imagecorruptions' 11 layers / 12 is measurably another image
        ic = np.arange(1, 1.31, 0.03)
        other = half_even((x + sum(_clipped_zoom(x, float(z)) for z in ic)) / (len(ic) + 1) * 255)
        assert np.abs(other.astype(int) - expected).mean() > 0.3


@pytest.mark.parametrize(("shape", "side"), [((400, 600), 1024), ((200, 300), 1024), ((700, 1500), 2048)])
def test_fog_map_is_1024_float64_cropped_top_left(shape: tuple[int, int], side: int) -> None:
    """Always 1024 (imagecorruptions: 512 for a 300-px image); above 1024 px, where MM_Robustness
    fails, the next power of two."""
    pert = vittle("fog")
    fractal = pert.fractal(*shape, 2.0, np.random.default_rng(3))
    assert fractal.shape == (side, side) and fractal.dtype == np.float64
    assert fractal.min() == 0.0 and fractal.max() == 1.0
    if side == 1024:
        img = photo(*shape)
        thickness, decay = pert.level(3)["thickness"], pert.level(3)["decay"]
        fog_map = pert.fractal(*shape, decay, np.random.default_rng(5))[: shape[0], : shape[1], None]
        x = img / 255.0
        expected = half_even(np.clip((x + thickness * fog_map) * x.max() / (x.max() + thickness), 0, 1) * 255)
        out = pert.apply(img, 3, np.random.default_rng(5))
        assert np.abs(out.astype(int) - expected).max() <= 1


def _derived_bgr(index: int) -> np.ndarray:
    """The stated derivation: Pillow bicubic resize of the packaged texture to MM's size, in the
    channel order cv2.imread gives (BGR)."""
    height, width = MM_SIZES[index]
    name = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")[index]
    with Image.open(frost_dir() / name) as image:
        rgb = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    return rgb[..., ::-1]


def test_frost_derived_textures_have_mm_robustness_sizes() -> None:
    textures = mm_frost.frost_textures(None)
    assert [t.shape[:2] for t in textures.textures] == list(MM_SIZES)
    for index, texture in enumerate(textures.textures):
        assert np.array_equal(texture, _derived_bgr(index))
    record = textures.record()
    assert record["source"] == "derived" and len(record["textures"]) == 5  # frost6 is never used
    assert record["textures"][0]["pixels_sha256"] == hashlib.sha256(_derived_bgr(0).tobytes()).hexdigest()


@pytest.mark.parametrize("severity", [1, 5])
def test_frost_adds_the_top_left_window_with_red_and_blue_swapped(severity: int) -> None:
    image_weight, frost_weight = ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))[severity - 1]
    img = photo(300, 400)
    index = int(np.random.default_rng(11).integers(5))  # randint(5): the generator's first draw
    texture_rgb = _derived_bgr(index)[..., ::-1]
    window = texture_rgb[:300, :400, ::-1]  # MM adds the RGB texture to a BGR photo: R and B swap
    expected = half_even(image_weight * img.astype(np.float64) + frost_weight * window)
    out = vittle("frost").apply(img, severity, np.random.default_rng(11))
    assert np.abs(out.astype(int) - expected).max() <= 1
    unswapped = half_even(image_weight * img.astype(np.float64) + frost_weight * texture_rgb[:300, :400])
    assert np.abs(unswapped.astype(int) - expected).mean() > 5


def test_frost_draws_each_of_frost1_to_5_and_never_frost6() -> None:
    textures = mm_frost.frost_textures(None).textures
    pert = vittle("frost")
    img = np.zeros((6, 6, 3), dtype=np.uint8)
    drawn = set()
    for seed in range(60):
        layer = pert.draw_layer(img, np.random.default_rng(seed))
        matches = {i for i, t in enumerate(textures) if np.array_equal(t[:6, :6], layer)}
        assert matches  # always one of the five, at the top-left corner
        drawn |= matches
    assert drawn == {0, 1, 2, 3, 4}


def test_frost_on_an_image_larger_than_the_texture_enlarges_it_instead_of_failing() -> None:
    texture = np.arange(10 * 20 * 3, dtype=np.uint8).reshape(10, 20, 3)
    window = mm_frost.frost_window(texture, 15, 20)  # MM: broadcast error (15 > 10 rows)
    assert window.shape == (15, 20, 3)
    enlarged = cv2.resize(texture, (30, 15), interpolation=cv2.INTER_CUBIC)  # factor 1.5, aspect kept
    assert np.array_equal(window, enlarged[:15, :20])
    assert np.array_equal(mm_frost.frost_window(texture, 4, 5), texture[:4, :5])


def _write_textures(folder: Path) -> list[np.ndarray]:
    folder.mkdir()
    textures = []
    for index, name in enumerate(mm_frost.MM_FROST_FILES):
        bgr = np.full((40, 50, 3), (10 * index, 100, 200), dtype=np.uint8)
        cv2.imwrite(str(folder / name), bgr)
        textures.append(cv2.imread(str(folder / name), cv2.IMREAD_COLOR))
    return textures


def test_frost_assets_are_checked_by_sha256_prefix_and_recorded(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "mm"
    textures = _write_textures(folder)
    pert = vittle("frost")
    pert.use_assets(folder)
    try:
        with pytest.raises(DataFormatError, match=r"frost1.png: sha256 .* does not start with 40c7eded"):
            pert.assets_record()
        # MM_Robustness's own files are not available here: accept these files' hashes instead
        digests = [hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in mm_frost.MM_FROST_FILES]
        monkeypatch.setattr(mm_frost, "MM_FROST_SHA256_PREFIXES", tuple(d[:8] for d in digests))
        mm_frost.frost_textures.cache_clear()
        record = pert.assets_record()
        assert record["source"] == "assets" and [t["file_sha256"] for t in record["textures"]] == digests
        img = photo(30, 40)
        index = int(np.random.default_rng(2).integers(5))
        expected = half_even(0.6 * img.astype(np.float64) + 0.75 * textures[index][:30, :40])
        assert np.abs(pert.apply(img, 5, np.random.default_rng(2)).astype(int) - expected).max() <= 1
        (folder / "frost3.png").unlink()
        mm_frost.frost_textures.cache_clear()
        with pytest.raises(MissingResourceError, match="frost3.png: missing"):
            pert.assets_record()
    finally:
        pert.use_assets(None)
        mm_frost.frost_textures.cache_clear()


@pytest.mark.parametrize("name", VISUAL_PERTURBATIONS)
def test_reference_engine_port_agrees_with_the_fast_engine(name: str) -> None:
    """``--engine reference`` under vittle: a plain port of MM_Robustness's per-image code."""
    pert = vittle(name)
    img = photo(64, 80)
    fast = pert.apply(img, 3, np.random.default_rng(4)).astype(int)
    reference = pert.apply_reference(img, 3, np.random.default_rng(4)).astype(int)
    if "noise" in name:  # other draws: compare the size of the change
        assert abs(np.std(fast - img) - np.std(reference - img)) < 0.05 * np.std(reference - img)
    else:
        assert np.abs(fast - reference).max() <= 1


def _plasma_by_rolls(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """The stated diamond-square rule (MM_Robustness's plasma_fractal, float64), with np.roll."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = grid[0:size:step, 0:size:step]
        around = corners + np.roll(corners, -1, axis=0)
        around += np.roll(around, -1, axis=1)
        grid[half:size:step, half:size:step] = around / 4 + wibble * rng.uniform(-wibble, wibble, around.shape)
        centres, corners = grid[half:size:step, half:size:step], grid[0:size:step, 0:size:step]
        left = (centres + np.roll(centres, 1, axis=0)) + (corners + np.roll(corners, -1, axis=1))
        grid[0:size:step, half:size:step] = left / 4 + wibble * rng.uniform(-wibble, wibble, left.shape)
        top = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=0))
        grid[half:size:step, 0:size:step] = top / 4 + wibble * rng.uniform(-wibble, wibble, top.shape)
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / grid.max()


def test_fog_map_is_the_diamond_square_rule_exactly() -> None:
    fractal = vittle("fog").fractal(100, 120, 1.7, np.random.default_rng(9))
    assert np.array_equal(fractal, _plasma_by_rolls(1024, 1.7, np.random.default_rng(9)))
