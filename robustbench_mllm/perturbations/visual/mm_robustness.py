"""The ``vittle`` protocol's visual corruptions: MM_Robustness's code path (the paper's reference).

MM_Robustness (``image_perturbation/perturb_COCO_IP.py`` at 7b231e2) applies the ImageNet-C
formulas to the raw ``cv2.imread`` array (no PIL wrapping, no 32-px minimum, no uint8 cast) and
writes the float result with ``cv2.imwrite``, which rounds half to even and saturates. Against
the imagecorruptions family every corruption therefore rounds instead of truncating, and:

- zoom_blur severity 5 zooms 1.00..1.33 in steps of .03 (12 layers, the sum divided by 13; the
  other severities' lists are imagecorruptions' own), trims each zoom at its centre, and keeps
  the zero edge pixels scipy's zoom leaves for some sizes (``blur.scipy_edge_zeros``);
- fog's plasma map is always 1024x1024 float64, cropped at the top-left (above 1024 px, where
  MM_Robustness fails, the map grows to the next power of two, cropped the same way);
- frost: ``perturbations.visual.mm_frost``.

The noise draws follow our own RGB order from the caller's generator (MM_Robustness sets no seed).
Each class keeps the fast engine of its imagecorruptions twin for ``apply``; ``apply_reference``
is a plain float64 port of MM_Robustness's per-image function (``reference_formula``), the slow
engine ``--engine reference`` runs under this protocol.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import cv2
import numpy as np

from robustbench_mllm.imaging import check_rgb
from robustbench_mllm.perturbations.base import check_severity, register_perturbation
from robustbench_mllm.perturbations.visual.blur import DefocusBlur, ZoomBlur, disk_kernel, zoom_factors
from robustbench_mllm.perturbations.visual.engine import VisualCorruption
from robustbench_mllm.perturbations.visual.fog import Fog, next_power_of_2, plasma_fractal
from robustbench_mllm.perturbations.visual.noise import GaussianNoise, ShotNoise, SpeckleNoise
from robustbench_mllm.perturbations.visual.pixels import Rounding, to_uint8
from robustbench_mllm.perturbations.visual.tone import Brightness, Contrast

MM_FOG_MAP_SIZE = 1024


class MMRobustnessCorruption(VisualCorruption):
    """Mixin (listed first) turning an imagecorruptions corruption into MM_Robustness's: round
    half to even, and a reference engine that runs ``reference_formula`` (float grey levels in
    [0, 255], as MM_Robustness hands them to ``cv2.imwrite``)."""

    rounding: ClassVar[Rounding] = "half_even"

    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def apply_reference(self, value: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
        img = check_rgb(value)
        out = self.reference_formula(img, self.level(check_severity(severity)), rng)
        return to_uint8(np.array(out, dtype=np.float64), rounding="half_even")


def _unit(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / 255.0


@register_perturbation("gaussian_noise", protocol="vittle")
class MMGaussianNoise(MMRobustnessCorruption, GaussianNoise):
    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        x = _unit(img)
        return np.clip(x + rng.normal(scale=level["sigma"], size=x.shape), 0, 1) * 255


@register_perturbation("shot_noise", protocol="vittle")
class MMShotNoise(MMRobustnessCorruption, ShotNoise):
    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        photons = level["photons"]
        return np.clip(rng.poisson(_unit(img) * photons) / photons, 0, 1) * 255


@register_perturbation("speckle_noise", protocol="vittle")
class MMSpeckleNoise(MMRobustnessCorruption, SpeckleNoise):
    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        x = _unit(img)
        return np.clip(x + x * rng.normal(scale=level["sigma"], size=x.shape), 0, 1) * 255


@register_perturbation("defocus_blur", protocol="vittle")
class MMDefocusBlur(MMRobustnessCorruption, DefocusBlur):
    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        x = _unit(img)
        kernel = disk_kernel(level["radius"], level["alias_blur"])
        channels = [cv2.filter2D(x[:, :, c], -1, kernel) for c in range(3)]
        return np.clip(np.stack(channels, axis=2), 0, 1) * 255


def mm_clipped_zoom(x: np.ndarray, factor: float) -> np.ndarray:
    """MM_Robustness's ``clipped_zoom``: centre crop of ceil(side / factor), scipy linear zoom,
    centre trim back to the image's size."""
    from scipy.ndimage import zoom

    height, width = x.shape[:2]
    crop_h, crop_w = math.ceil(height / factor), math.ceil(width / factor)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    zoomed = zoom(x[top : top + crop_h, left : left + crop_w], (factor, factor, 1), order=1)
    trim_h, trim_w = (zoomed.shape[0] - height) // 2, (zoomed.shape[1] - width) // 2
    return zoomed[trim_h : trim_h + height, trim_w : trim_w + width]


@register_perturbation("zoom_blur", protocol="vittle")
class MMZoomBlur(MMRobustnessCorruption, ZoomBlur):
    levels = tuple(
        {"stop": stop, "step": step}
        for stop, step in ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.33, 0.03))
    )
    centre_trim = True
    edge_zeros = True

    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        x = (img / 255.0).astype(np.float32)
        factors = zoom_factors(level["stop"], level["step"])
        layers = np.zeros_like(x)
        for factor in factors:
            layers += mm_clipped_zoom(x, float(factor))
        return np.clip((x + layers) / (len(factors) + 1), 0, 1) * 255


def mm_fog_size(height: int, width: int) -> int:
    """1024 as in MM_Robustness; larger images (which it cannot fog) get the next power of two."""
    return max(MM_FOG_MAP_SIZE, next_power_of_2(max(height, width)))


@register_perturbation("fog", protocol="vittle")
class MMFog(MMRobustnessCorruption, Fog):
    def fractal(self, height: int, width: int, decay: float, rng: np.random.Generator) -> np.ndarray:
        return plasma_fractal(mm_fog_size(height, width), decay, rng.uniform, dtype=np.float64)

    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        height, width = img.shape[:2]
        x = _unit(img)
        peak = x.max()
        x = x + level["thickness"] * self.fractal(height, width, level["decay"], rng)[:height, :width, None]
        return np.clip(x * peak / (peak + level["thickness"]), 0, 1) * 255


@register_perturbation("contrast", protocol="vittle")
class MMContrast(MMRobustnessCorruption, Contrast):
    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        x = _unit(img)
        means = np.mean(x, axis=(0, 1), keepdims=True)
        return np.clip((x - means) * level["factor"] + means, 0, 1) * 255


@register_perturbation("brightness", protocol="vittle")
class MMBrightness(MMRobustnessCorruption, Brightness):
    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        from skimage.color import hsv2rgb, rgb2hsv

        hsv = rgb2hsv(_unit(img))
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + level["shift"], 0, 1)
        return np.clip(hsv2rgb(hsv), 0, 1) * 255
