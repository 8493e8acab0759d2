"""Frost as MM_Robustness made it (the ``vittle`` protocol).

MM_Robustness (``image_perturbation/perturb_COCO_IP.py``) reads its own frost photos, 1800 px
wide, never resizes them, crops the image-sized window at the TOP-LEFT corner, draws the photo with
``randint(5)`` (frost1-5; frost6 is never used), and adds it with red and blue swapped: it reverses
the BGR texture to RGB but adds it to an image that is still BGR. On our RGB image that is the
texture added in BGR order.

Its files are not in any package. By default we derive them offline: Pillow's bicubic resize of
imagecorruptions' packaged frost1-5 to MM_Robustness's sizes (within 0.5-2.1 grey levels mean
absolute difference of MM's files). ``use_assets(folder)`` takes MM_Robustness's own files instead,
each checked against the first 8 hex digits of its sha256 (the only part of the hashes we hold).
Derived textures are computed once per process and kept in memory; nothing is written to disk.

Where MM_Robustness crashes (an image taller or wider than the texture: a broadcast error), we
enlarge the texture (bicubic, aspect kept) by the smallest factor that covers the image and crop
its top-left window, the same rule in every other respect.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import sha256_file
from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.visual.frost import FROST_FILES, Frost, frost_dir
from robustbench_mllm.perturbations.visual.mm_robustness import MMRobustnessCorruption
from robustbench_mllm.perturbations.visual.pixels import to_uint8

# MM_Robustness's frost1-5 (commit 7b231e2): (height, width) and the start of each file's sha256.
MM_FROST_SIZES: tuple[tuple[int, int], ...] = ((1200, 1800), (1012, 1800), (1012, 1800), (1195, 1800), (1350, 1800))
MM_FROST_SHA256_PREFIXES: tuple[str, ...] = ("40c7eded", "252b9289", "55308ff9", "af298c9a", "68c9c22e")
MM_FROST_FILES: tuple[str, ...] = FROST_FILES[: len(MM_FROST_SIZES)]
TextureSource = Literal["derived", "assets"]


@dataclass(frozen=True)
class FrostTextures:
    """The five textures in the channel order ``cv2.imread`` gives (BGR), read-only, and where
    they came from (the manifest records ``record()``)."""

    source: TextureSource
    textures: tuple[np.ndarray, ...]
    files: tuple[str, ...]  # the files read
    file_sha256: tuple[str, ...]
    pixels_sha256: tuple[str, ...]  # sha256 of each texture's decoded pixels (HxWx3 BGR uint8)

    def record(self) -> dict[str, Any]:
        from PIL import __version__ as pillow_version

        entries = [
            {"file": file, "file_sha256": file_digest, "shape": list(texture.shape), "pixels_sha256": pixels}
            for file, file_digest, texture, pixels in zip(self.files, self.file_sha256, self.textures, self.pixels_sha256)
        ]
        record: dict[str, Any] = {"source": self.source, "textures": entries}
        if self.source == "derived":
            record["derivation"] = f"Pillow {pillow_version} bicubic resize of imagecorruptions' frost1-5 to {MM_FROST_SIZES}"
        return record


def _frozen(texture: np.ndarray) -> np.ndarray:
    texture = np.ascontiguousarray(texture)
    texture.setflags(write=False)
    return texture


def _derive(index: int) -> tuple[Path, str, np.ndarray]:
    from PIL import Image

    path = frost_dir() / MM_FROST_FILES[index]
    height, width = MM_FROST_SIZES[index]
    with Image.open(path) as image:
        # RGB first: frost1-3 are RGBA, and cv2.imread (what MM_Robustness used) drops alpha too
        rgb = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    return path, sha256_file(path), rgb[..., ::-1]


def _read_asset(folder: Path, index: int) -> tuple[Path, str, np.ndarray]:
    path = folder / MM_FROST_FILES[index]
    if not path.is_file():
        raise MissingResourceError(
            f"{path}: missing; `assets` must hold MM_Robustness's image_perturbation/{', '.join(MM_FROST_FILES)}")
    digest = sha256_file(path)
    if not digest.startswith(MM_FROST_SHA256_PREFIXES[index]):
        raise DataFormatError(
            f"{path}: sha256 {digest[:16]}... does not start with {MM_FROST_SHA256_PREFIXES[index]} "
            f"(MM_Robustness's {MM_FROST_FILES[index]}); give the folder with its own frost files")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFormatError(f"{path}: cannot decode the frost texture")
    return path, digest, bgr


@functools.lru_cache(maxsize=2)
def frost_textures(assets: str | None) -> FrostTextures:
    """MM_Robustness's frost1-5: read from the folder ``assets``, or derived when None."""
    loaded = [_read_asset(Path(assets), i) if assets else _derive(i) for i in range(len(MM_FROST_FILES))]
    return FrostTextures(
        source="assets" if assets else "derived",
        textures=tuple(_frozen(texture) for _, _, texture in loaded),
        files=tuple(path.name for path, _, _ in loaded),
        file_sha256=tuple(digest for _, digest, _ in loaded),
        pixels_sha256=tuple(hashlib.sha256(_frozen(t).tobytes()).hexdigest() for _, _, t in loaded),
    )


def frost_window(texture: np.ndarray, height: int, width: int) -> np.ndarray:
    """The top-left ``height`` x ``width`` window of ``texture``; a texture too small for the image
    (where MM_Robustness crashes) is first enlarged just enough to cover it."""
    if height > texture.shape[0] or width > texture.shape[1]:
        factor = max(height / texture.shape[0], width / texture.shape[1])
        size = (math.ceil(texture.shape[1] * factor), math.ceil(texture.shape[0] * factor))
        texture = cv2.resize(texture, size, interpolation=cv2.INTER_CUBIC)
    return texture[:height, :width]


@register_perturbation("frost", protocol="vittle")
class MMRobustnessFrost(MMRobustnessCorruption, Frost):
    """MM_Robustness's frost: ``a * x + b * texture`` with its textures, placement and colour."""

    def __init__(self) -> None:
        self.assets: str | None = None

    def use_assets(self, folder: Path | None) -> None:
        self.assets = str(folder) if folder is not None else None

    def assets_record(self) -> dict[str, Any]:
        return frost_textures(self.assets).record()

    def draw_layer(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The texture window added to ``img``: photo ``randint(5)``, top-left, BGR order."""
        textures = frost_textures(self.assets).textures
        return frost_window(textures[int(rng.integers(len(textures)))], img.shape[0], img.shape[1])

    def corrupt(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        layer = self.draw_layer(img, rng)
        blended = cv2.addWeighted(img, level["image_weight"], layer, level["frost_weight"], 0.0, dtype=cv2.CV_32F)
        return to_uint8(blended, rounding=self.rounding)

    def reference_formula(self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        layer = self.draw_layer(img, rng).astype(np.float64)
        return np.clip(level["image_weight"] * img.astype(np.float64) + level["frost_weight"] * layer, 0, 255)

