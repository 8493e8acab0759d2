"""Fog: a diamond-square plasma fractal added to the image, then the range rescaled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.visual.engine import VisualCorruption
from robustbench_mllm.perturbations.visual.pixels import Rounding, to_uint8

# ``uniform(low, high, shape)``: the fractal's only source of randomness (tests plug in NumPy's
# legacy generator to reproduce the reference's fractal exactly).
UniformDraw = Callable[[float, float, tuple[int, ...]], np.ndarray]


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _plus_rolled(a: np.ndarray, shift: int, axis: int) -> np.ndarray:
    """``a + np.roll(a, shift, axis)`` for a shift of -1 or 1, without the rolled copy (the same
    sums in the same order, so the same floats)."""

    def part(start: int, stop: int | None) -> tuple[slice, ...]:
        index = [slice(None), slice(None)]
        index[axis] = slice(start, stop)
        return tuple(index)

    total = np.empty_like(a)
    if shift == -1:  # element i plus element i + 1; the last one wraps to the first
        np.add(a[part(0, -1)], a[part(1, None)], out=total[part(0, -1)])
        np.add(a[part(-1, None)], a[part(0, 1)], out=total[part(-1, None)])
    else:  # element i plus element i - 1; the first one wraps to the last
        np.add(a[part(1, None)], a[part(0, -1)], out=total[part(1, None)])
        np.add(a[part(0, 1)], a[part(-1, None)], out=total[part(0, 1)])
    return total


def plasma_fractal(
    size: int, decay: float, uniform: UniformDraw, dtype: type[np.floating] = np.float32
) -> np.ndarray:
    """A ``size`` x ``size`` (a power of two) height map in [0, 1] by the diamond-square algorithm
    on a torus, as imagecorruptions builds it: each new point is the mean of its 4 neighbours plus
    ``wibble * U(-wibble, wibble)`` (the amplitude is wibble squared, a quirk we keep because it
    sets the fog's texture), with ``wibble`` starting at 100 and divided by ``decay`` per level.
    ``dtype``: imagecorruptions-imaug computes in float32, MM_Robustness in float64."""
    if size & (size - 1):
        raise ValueError(f"plasma fractal size must be a power of two, got {size}")
    grid = np.zeros((size, size), dtype=dtype)
    step = size
    wibble = 100.0

    def jittered_mean(total: np.ndarray) -> np.ndarray:
        """``total / 4 + wibble * noise``, in place on the fresh arrays (the same floats)."""
        noise = uniform(-wibble, wibble, total.shape).astype(dtype, copy=False)
        noise *= dtype(wibble)
        total *= dtype(0.25)
        total += noise
        return total

    while step >= 2:
        half = step // 2
        # Squares: centre of each cell from its 4 corners.
        corners = grid[0:size:step, 0:size:step]
        around = _plus_rolled(_plus_rolled(corners, -1, 0), -1, 1)
        grid[half:size:step, half:size:step] = jittered_mean(around)
        # Diamonds: edge midpoints from the 2 adjacent corners and the 2 adjacent centres.
        centres = grid[half:size:step, half:size:step]
        corners = grid[0:size:step, 0:size:step]
        left = _plus_rolled(centres, 1, 0)
        left += _plus_rolled(corners, -1, 1)
        grid[0:size:step, half:size:step] = jittered_mean(left)
        top = _plus_rolled(centres, 1, 1)
        top += _plus_rolled(corners, -1, 0)
        grid[half:size:step, 0:size:step] = jittered_mean(top)
        step = half
        wibble /= decay
    grid -= grid.min()
    peak = grid.max()
    if peak > 0:
        grid /= peak
    return grid


def fog_size(height: int, width: int) -> int:
    """The fractal's side: the next power of two of the image's largest dimension (the reference
    takes the max over (H, W, 3), so even a 1x1 image gets a 4x4 map)."""
    return next_power_of_2(max(height, width, 3))


def add_fog(
    img: np.ndarray, level: dict[str, Any], fractal: np.ndarray, rounding: Rounding = "truncate"
) -> np.ndarray:
    """``(x + thickness * fractal) * max(x) / (max(x) + thickness)`` with x in [0, 1]."""
    height, width, _ = img.shape
    thickness = np.float32(level["thickness"])
    brightest = np.float32(img.max()) / np.float32(255.0)
    fogged = img.astype(np.float32)
    fogged += (np.float32(255.0) * thickness) * fractal[:height, :width, None]
    fogged *= brightest / (brightest + thickness)
    return to_uint8(fogged, rounding=rounding)


@register_perturbation("fog")
class Fog(VisualCorruption):
    """Plasma-fractal haze; ``thickness`` scales the fractal, ``decay`` sets its roughness."""

    category = "weather"
    levels = tuple(
        {"thickness": thickness, "decay": decay}
        for thickness, decay in ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
    )

    def fractal(self, height: int, width: int, decay: float, rng: np.random.Generator) -> np.ndarray:
        """The height map the fog is made of (at least ``height`` x ``width``)."""

        def uniform(low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
            draws = rng.random(shape, dtype=np.float32)
            return draws * np.float32(high - low) + np.float32(low)

        return plasma_fractal(fog_size(height, width), decay, uniform)

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        fractal = self.fractal(img.shape[0], img.shape[1], level["decay"], rng)
        return add_fog(img, level, fractal, self.rounding)
