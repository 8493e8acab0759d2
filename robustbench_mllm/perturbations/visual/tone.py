"""Global tone corruptions: contrast (towards the channel means) and brightness (HSV value shift).

Both are functions of a pixel's own uint8 values, so the fast engine evaluates the reference formula
once per possible input in float64 and then only looks results up: exact to the grey level, no
float image in memory.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.visual.engine import VisualCorruption
from robustbench_mllm.perturbations.visual.pixels import Rounding, map_rows, to_uint8

_GREY_LEVELS = np.arange(256, dtype=np.float64)


@register_perturbation("contrast")
class Contrast(VisualCorruption):
    """Pull every pixel towards its channel's image mean: ``(x - mean) * factor + mean``."""

    category = "digital"
    levels = tuple({"factor": f} for f in (0.4, 0.3, 0.2, 0.1, 0.05))

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        means = np.array(cv2.mean(img)[:3])  # per-channel means, accumulated in float64
        # One 256-entry table per channel, shape (1, 256, 3) as cv2.LUT wants for 3 channels.
        table = (_GREY_LEVELS[:, None] - means) * level["factor"] + means
        return cv2.LUT(img, to_uint8(table, rounding=self.rounding)[None])


def brightness_table(shift: float, rounding: Rounding = "truncate") -> np.ndarray:
    """``table[v, x]``: new grey level of a channel at ``x`` in a pixel whose max channel is ``v``.

    Hue and saturation stay fixed in the reference's HSV round trip and RGB is linear in V at fixed
    H and S, so a channel becomes ``x * min(v/255 + shift, 1) / (v/255)``; a black pixel (V = 0,
    saturation 0) becomes grey ``shift``.
    """
    value = _GREY_LEVELS[:, None] / 255.0
    new_value = np.minimum(value + shift, 1.0)
    scale = np.divide(new_value, value, out=np.zeros_like(value), where=value > 0)
    table = _GREY_LEVELS[None, :] * scale
    table[0, :] = new_value[0, 0] * 255.0
    return to_uint8(table, rounding=rounding)


@register_perturbation("brightness")
class Brightness(VisualCorruption):
    """Add ``shift`` to the HSV value channel (clipped to 1) and convert back to RGB."""

    category = "weather"
    levels = tuple({"shift": s} for s in (0.1, 0.2, 0.3, 0.4, 0.5))

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        table = brightness_table(level["shift"], self.rounding).ravel()

        def brighten(block: np.ndarray) -> np.ndarray:
            value = np.maximum(np.maximum(block[..., 0], block[..., 1]), block[..., 2])
            # Flat table index v * 256 + x, in uint16 to keep the index array small.
            index = (value.astype(np.uint16)[..., None] << 8) | block
            return np.take(table, index)

        return map_rows(img, brighten)
