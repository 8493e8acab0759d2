"""The 9 ImageNet-C visual corruptions of the Vittle benchmark, severities 1-5, each with a fast
NumPy/OpenCV engine (``apply``) and the imagecorruptions reference engine (``apply_reference``),
plus the ``vittle`` protocol's own versions (``mm_robustness``, ``mm_frost``: MM_Robustness's code
path, whose reference engine is a plain port of its per-image functions).

Importing this package registers them (it imports OpenCV; keep it off the CLI's ``--help`` path).
"""

from robustbench_mllm.perturbations.visual import blur, fog, frost, mm_frost, mm_robustness, noise, tone
from robustbench_mllm.perturbations.visual.engine import VisualCorruption

VISUAL_PERTURBATIONS: tuple[str, ...] = (
    "defocus_blur", "zoom_blur", "contrast", "brightness", "fog", "frost",
    "gaussian_noise", "shot_noise", "speckle_noise",
)  # fmt: skip

__all__ = [
    "VISUAL_PERTURBATIONS",
    "VisualCorruption",
    "blur",
    "fog",
    "frost",
    "mm_frost",
    "mm_robustness",
    "noise",
    "tone",
]
