"""Frost: a random crop of one of imagecorruptions' six frost photos blended over the image.

The textures are read at run time from the installed imagecorruptions package (never copied into
this repository). We locate the package without importing it (its import pulls numba and scipy).
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.visual.engine import VisualCorruption
from robustbench_mllm.perturbations.visual.pixels import to_uint8

# Same order as imagecorruptions' list: the drawn index selects the same photo in both engines.
FROST_FILES: tuple[str, ...] = (
    "frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg",
)  # fmt: skip


def frost_dir() -> Path:
    spec = importlib.util.find_spec("imagecorruptions")
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError("frost needs the frost textures of the imagecorruptions-imaug package")
    return Path(next(iter(spec.submodule_search_locations))) / "frost"


@functools.lru_cache(maxsize=len(FROST_FILES))
def frost_texture(index: int) -> np.ndarray:
    """Frost photo ``index`` as a read-only RGB uint8 array (decoded once per process)."""
    path = frost_dir() / FROST_FILES[index]
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # the reference decodes with OpenCV too
    if bgr is None:
        raise MissingResourceError(f"cannot read frost texture {path}")
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    rgb.setflags(write=False)
    return rgb


@dataclass(frozen=True)
class FrostPlacement:
    """Which texture, how far it is scaled up, and where the image-sized window starts in it."""

    texture: int
    scaled_height: int
    scaled_width: int
    top: int
    left: int


def frost_scale(image_hw: tuple[int, int], texture_hw: tuple[int, int]) -> tuple[int, int]:
    """Scaled texture size: 1.1x the smallest upscale that covers the image (never a downscale)."""
    factor = max(1.0, image_hw[0] / texture_hw[0], image_hw[1] / texture_hw[1]) * 1.1
    return math.ceil(texture_hw[0] * factor), math.ceil(texture_hw[1] * factor)


def draw_placement(image_hw: tuple[int, int], rng: np.random.Generator) -> FrostPlacement:
    index = int(rng.integers(len(FROST_FILES)))
    height, width = frost_scale(image_hw, frost_texture(index).shape[:2])
    top = int(rng.integers(0, height - image_hw[0]))
    left = int(rng.integers(0, width - image_hw[1]))
    return FrostPlacement(index, height, width, top, left)


def frost_layer(image_hw: tuple[int, int], placement: FrostPlacement) -> np.ndarray:
    """The image-sized window of the scaled texture.

    One inverse warp produces just the window (same pixel-centre mapping and bicubic filter as
    ``cv2.resize`` of the whole texture followed by a crop), so memory stays at the image's size
    even when an 8000x6000 photo needs a texture scaled past 9000 pixels.
    """
    texture = frost_texture(placement.texture)
    scale_y = texture.shape[0] / placement.scaled_height
    scale_x = texture.shape[1] / placement.scaled_width
    matrix = np.array(
        [
            [scale_x, 0.0, (placement.left + 0.5) * scale_x - 0.5],
            [0.0, scale_y, (placement.top + 0.5) * scale_y - 0.5],
        ]
    )
    return cv2.warpAffine(
        texture,
        matrix,
        (image_hw[1], image_hw[0]),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def blend_frost(img: np.ndarray, level: dict[str, Any], layer: np.ndarray) -> np.ndarray:
    """``image_weight * x + frost_weight * frost`` in grey levels (one float32 temporary)."""
    blended = cv2.addWeighted(
        img, level["image_weight"], layer, level["frost_weight"], 0.0, dtype=cv2.CV_32F
    )
    return to_uint8(blended)


@register_perturbation("frost")
class Frost(VisualCorruption):
    """Frosted glass in front of the lens."""

    category = "weather"
    levels = tuple(
        {"image_weight": image, "frost_weight": frost}
        for image, frost in ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))
    )

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        image_hw = (img.shape[0], img.shape[1])
        return blend_frost(img, level, frost_layer(image_hw, draw_placement(image_hw, rng)))
