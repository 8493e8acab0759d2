"""Stable seeds: every random draw derives from explicit parts through sha256, never hash()."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_seed(*parts: object) -> int:
    """A 64-bit seed from the string forms of ``parts`` (independent of PYTHONHASHSEED)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def make_rng(*parts: object) -> np.random.Generator:
    """A NumPy generator seeded from ``parts``, e.g. ``make_rng(seed, "frost", 3, image_id)``."""
    return np.random.default_rng(stable_seed(*parts))
