"""Array helpers shared by the fast engine: uint8 conversion and row-blocked pointwise maps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Pointwise corruptions work on blocks of about this many float32 values: the temporaries stay in
# cache for small images and bounded (a few MB) for an 8000x6000 photo.
_BLOCK_VALUES = 1 << 18


def to_uint8(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Clip grey levels to [0, 255] (in place for a float array) and truncate towards zero.

    imagecorruptions ends every corruption with ``np.uint8(float_image)``, which truncates; we
    truncate too so both engines agree to the grey level instead of differing by rounding.
    """
    clipped = np.clip(values, 0.0, 255.0, out=values if values.dtype.kind == "f" else None)
    if out is None:
        return clipped.astype(np.uint8)
    out[...] = clipped  # float -> uint8 assignment truncates
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


def map_grey_levels(img: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``map_rows`` for a formula on float32 grey levels (0..255); the result is truncated."""
    return map_rows(img, lambda block: to_uint8(transform(block.astype(np.float32))))
