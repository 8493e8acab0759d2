"""Array helpers shared by the fast engine: uint8 conversion and row-blocked pointwise maps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

# How float grey levels become 8-bit: imagecorruptions truncates (``np.uint8(x)``); MM_Robustness
# wrote float arrays with ``cv2.imwrite``, which rounds half to even (and saturates).
Rounding = Literal["truncate", "half_even"]

# Pointwise corruptions work on blocks of about this many float32 values: the temporaries stay in
# cache for small images and bounded (a few MB) for an 8000x6000 photo.
_BLOCK_VALUES = 1 << 18


def to_uint8(
    values: np.ndarray, out: np.ndarray | None = None, rounding: Rounding = "truncate"
) -> np.ndarray:
    """Clip grey levels to [0, 255] (in place for a float array), then truncate towards zero or
    round half to even (``rounding``).

    imagecorruptions ends every corruption with ``np.uint8(float_image)``, which truncates; the
    imagecorruptions-family corruptions truncate too so both engines agree to the grey level.
    """
    clipped = np.clip(values, 0.0, 255.0, out=values if values.dtype.kind == "f" else None)
    if rounding == "half_even" and clipped.dtype.kind == "f":
        clipped = np.rint(clipped, out=clipped)
    if out is None:
        return clipped.astype(np.uint8)
    out[...] = clipped  # float -> uint8 assignment truncates (already rounded for half_even)
    return out


def block_rows(width: int) -> int:
    """How many whole rows of an RGB image ``width`` pixels wide make one block."""
    return max(1, _BLOCK_VALUES // (width * 3))


def map_rows(img: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a pointwise ``transform`` (uint8 block in, uint8 block of the same shape out) to
    blocks of whole rows, so temporaries stay small however large the image is.

    Random draws inside ``transform`` happen block after block in row order, so the result depends
    only on the generator state and the image shape.
    """
    rows = block_rows(img.shape[1])
    result = np.empty_like(img)
    for top in range(0, img.shape[0], rows):
        result[top : top + rows] = transform(img[top : top + rows])
    return result


def map_grey_levels(
    img: np.ndarray, transform: Callable[[np.ndarray], np.ndarray], rounding: Rounding = "truncate"
) -> np.ndarray:
    """``map_rows`` for a formula on float32 grey levels (0..255), converted with ``rounding``."""
    return map_rows(img, lambda block: to_uint8(transform(block.astype(np.float32)), rounding=rounding))
