"""The visual corruption base class with its two engines.

``apply`` is the fast engine: our own NumPy/OpenCV implementation of the imagecorruptions formulas
and parameter tables, working on any size from 1x1 up. ``apply_reference`` calls
``imagecorruptions.corrupt`` itself (slow, needs at least 32x32 pixels); it draws from NumPy's
global generator, so we seed that from ``rng`` and restore it afterwards, which makes the
reference engine deterministic as well.

Sizes in the fast engine: any image from 1x1 up. Below 32 px the formulas still apply unchanged:
zoom crops of a single pixel map to that pixel, the fog fractal is at least 4x4 (the reference
sizes it from max(H, W, 3)), and frost takes its window from a texture that is always larger than
the image (textures are scaled up by 1.1x the factor that covers the image, never down). For
large photos the pointwise corruptions work in row blocks (memory ~ the output), zoom_blur keeps
one float32 copy of the image, defocus_blur two, and fog a float32 fractal of side
next_power_of_2(max(H, W)) (256 MiB for 8000x6000), as in the reference.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.imaging import check_rgb
from robustbench_mllm.perturbations.base import Perturbation, check_severity
from robustbench_mllm.perturbations.visual.pixels import Rounding

# imagecorruptions.corrupt refuses smaller images.
REFERENCE_MIN_SIDE = 32


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class VisualCorruption(Perturbation):
    """One ImageNet-C corruption. Subclasses set ``category`` and ``levels`` (the parameter table,
    one mapping per severity 1..5, same numbers as imagecorruptions) and implement ``corrupt``."""

    modality: ClassVar[Literal["visual"]] = "visual"
    levels: ClassVar[tuple[dict[str, Any], ...]]
    # how the float result becomes 8-bit; the MM_Robustness (vittle) family rounds half to even
    rounding: ClassVar[Rounding] = "truncate"

    def level(self, severity: int) -> dict[str, Any]:
        return self.levels[check_severity(severity) - 1]

    def params(self, severity: int) -> str:
        return ", ".join(f"{key}={_format_value(v)}" for key, v in self.level(severity).items())

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        """The fast engine on a checked image with this severity's parameters."""
        raise NotImplementedError

    def apply(self, value: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
        img = check_rgb(value)
        out = self.corrupt(img, self.level(severity), rng)
        if out.shape != img.shape or out.dtype != np.uint8:  # an internal invariant, not input
            raise AssertionError(f"{self.name}: produced {out.shape} {out.dtype} from {img.shape}")
        return out

    def apply_reference(
        self, value: np.ndarray, severity: int, rng: np.random.Generator
    ) -> np.ndarray:
        img = check_rgb(value)
        check_severity(severity)
        if min(img.shape[:2]) < REFERENCE_MIN_SIDE:
            raise ConfigError(
                f"{self.name}: the reference engine (imagecorruptions) needs at least "
                f"{REFERENCE_MIN_SIDE}x{REFERENCE_MIN_SIDE} pixels, got "
                f"{img.shape[1]}x{img.shape[0]}; use the fast engine for small images"
            )
        from imagecorruptions import corrupt  # heavy (numba, scipy, skimage): import on use

        saved_state = np.random.get_state()
        np.random.seed(int(rng.integers(2**32)))
        try:
            out = corrupt(img, severity=severity, corruption_name=self.name)
        finally:
            np.random.set_state(saved_state)
        return np.ascontiguousarray(out, dtype=np.uint8)
