"""Blur corruptions: defocus_blur (disk kernel) and zoom_blur (average of centre zooms)."""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import cv2
import numpy as np

from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.visual.engine import VisualCorruption
from robustbench_mllm.perturbations.visual.pixels import block_rows, to_uint8


@functools.lru_cache(maxsize=8)
def disk_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """The ImageNet-C defocus kernel: a normalised disk on a grid of at least 17x17, softened by a
    small Gaussian (3x3, or 5x5 for radii over 8) to anti-alias its edge.

    For radius 8 and 10 the disk touches the grid's edge and the blur's reflected border adds
    mass: the kernel sums to about 1.013 and 1.011, so severities 4-5 also brighten by ~1%. That
    is the reference's kernel; we keep it so both engines agree.
    """
    half = radius if radius > 8 else 8
    ksize = (5, 5) if radius > 8 else (3, 3)
    coords = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(coords, coords)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float32)
    disk /= disk.sum()
    kernel = cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)
    kernel.setflags(write=False)
    return kernel


@register_perturbation("defocus_blur")
class DefocusBlur(VisualCorruption):
    """Convolution with an anti-aliased disk (out-of-focus lens)."""

    category = "blur"
    levels = tuple(
        {"radius": radius, "alias_blur": blur}
        for radius, blur in ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
    )

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        kernel = disk_kernel(level["radius"], level["alias_blur"])
        # All three channels in one call; OpenCV's default border (reflect-101) as in the reference.
        blurred = cv2.filter2D(img.astype(np.float32), -1, kernel)
        return to_uint8(blurred.reshape(img.shape), rounding=self.rounding)


def zoom_factors(stop: float, step: float) -> np.ndarray:
    """The reference's ``np.arange(1, stop, step)``; built the same way so the floats match."""
    return np.arange(1, stop, step)


def _zoom_matrix(side: tuple[int, int], factor: float, centre_trim: bool) -> np.ndarray:
    """Inverse affine map (output pixel -> source pixel) of imagecorruptions' ``clipped_zoom``:
    crop the centre ``ceil(side / factor)`` pixels, zoom them with scipy's corner-aligned linear
    interpolation to ``round(crop * factor)`` pixels, keep the top-left ``side`` pixels (or, with
    ``centre_trim``, the centre ones, as MM_Robustness does)."""
    matrix = np.zeros((2, 3), dtype=np.float64)
    for axis, length in enumerate(side):  # axis 0 = x (width), 1 = y (height)
        crop = math.ceil(length / factor)
        start = (length - crop) // 2
        zoomed = int(round(crop * factor))
        matrix[axis, axis] = (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
        trim = (zoomed - length) // 2 if centre_trim else 0
        matrix[axis, 2] = start + trim * matrix[axis, axis]
    return matrix


def scipy_edge_zeros(length: int, factor: float, centre_trim: bool) -> np.ndarray:
    """Output indices (along a side of ``length``) where scipy's ``zoom`` (mode "constant") puts 0:
    it maps zoomed index k to ``k * ((crop - 1) / (zoomed - 1))`` and treats a coordinate that
    rounds past ``crop - 1`` (e.g. 159 * (125 / 159) > 125) as outside the image."""
    crop = math.ceil(length / factor)
    zoomed = int(round(crop * factor))
    trim = (zoomed - length) // 2 if centre_trim else 0
    index = np.arange(trim, trim + length)
    ratio = (crop - 1) / (zoomed - 1) if zoomed > 1 else 1.0
    return np.flatnonzero(index * ratio > crop - 1)


@register_perturbation("zoom_blur")
class ZoomBlur(VisualCorruption):
    """Mean of the image and its centre zooms by each factor (camera zooming during exposure)."""

    category = "blur"
    # np.arange(1, stop, step) gives the zoom factors, as in the reference table.
    levels = tuple(
        {"stop": stop, "step": step}
        for stop, step in ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))
    )
    centre_trim: ClassVar[bool] = False  # MM_Robustness trims the zoomed crop at its centre
    # MM_Robustness's output keeps scipy's zero edge pixels (``scipy_edge_zeros``); this family
    # keeps robust-mllm 0.1's bytes
    edge_zeros: ClassVar[bool] = False

    def params(self, severity: int) -> str:
        level = self.level(severity)
        factors = zoom_factors(level["stop"], level["step"])
        return f"zoom=1..{factors[-1]:.2f} step {level['step']:g} ({len(factors)} layers)"

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        height, width, _ = img.shape
        source = img.astype(np.float32)
        factors = zoom_factors(level["stop"], level["step"])
        matrices = [_zoom_matrix((width, height), float(factor), self.centre_trim) for factor in factors[1:]]
        empty = np.zeros(0, dtype=np.intp)
        zeros = [
            (scipy_edge_zeros(width, float(f), self.centre_trim), scipy_edge_zeros(height, float(f), self.centre_trim))
            if self.edge_zeros else (empty, empty)
            for f in factors[1:]
        ]
        result = np.empty_like(img)
        # Output in blocks of rows, so only the float32 source is image-sized (an 8000x6000 photo
        # needs no full-size accumulator or layer).
        rows = block_rows(width)
        for top in range(0, height, rows):
            bottom = min(top + rows, height)
            # The reference averages the image with all its zooms, ``(x + out) / (n + 1)``; the
            # first factor is always exactly 1.0 (the identity): a second copy of x, not a warp.
            total = source[top:bottom] * 2.0
            for matrix, (zero_cols, zero_rows) in zip(matrices, zeros):
                block_matrix = matrix.copy()
                block_matrix[:, 2] += matrix[:, 1] * top  # output row y is image row top + y
                layer = cv2.warpAffine(
                    source,
                    block_matrix,
                    (width, bottom - top),
                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                    borderMode=cv2.BORDER_REPLICATE,
                )
                if self.edge_zeros:
                    layer[:, zero_cols] = 0
                    layer[zero_rows[(zero_rows >= top) & (zero_rows < bottom)] - top] = 0
                total += layer
                del layer  # before the next warp: one layer-sized temporary at a time
            total /= len(factors) + 1
            to_uint8(total, out=result[top:bottom], rounding=self.rounding)
        return result
