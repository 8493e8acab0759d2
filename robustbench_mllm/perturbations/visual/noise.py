"""Noise corruptions: additive Gaussian, Poisson (shot) and multiplicative (speckle) noise.

Draws come from the caller's generator, block by block (see ``pixels.map_rows``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.visual.engine import VisualCorruption
from robustbench_mllm.perturbations.visual.pixels import Rounding, map_grey_levels, map_rows, to_uint8


@register_perturbation("gaussian_noise")
class GaussianNoise(VisualCorruption):
    """``x + N(0, sigma)`` with x in [0, 1]."""

    category = "noise"
    levels = tuple({"sigma": s} for s in (0.08, 0.12, 0.18, 0.26, 0.38))

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        scale = np.float32(level["sigma"] * 255.0)

        def add_noise(block: np.ndarray) -> np.ndarray:
            noise = rng.standard_normal(block.shape, dtype=np.float32)
            noise *= scale
            return np.add(block, noise, out=noise)

        return map_grey_levels(img, add_noise, self.rounding)


@dataclass(frozen=True)
class PoissonTables:
    """Inverse-CDF tables for Poisson(v / 255 * photons), one row per grey level v.

    ``cdf[v, k]`` is P(count <= k) (the last column is +inf: the tail beyond the support, under
    1e-15, goes to the last count); ``guide[v, j]`` is the number of entries of ``cdf[v]`` that are
    <= j / buckets, so a uniform u starts its search at ``guide[v, floor(u * buckets)]``, at most
    one or two steps below the answer. ``grey[k]`` is the output grey level of count k. The 2-D
    tables are stored flattened (row-major) and, being cached, read-only.
    """

    cdf: np.ndarray
    guide: np.ndarray
    grey: np.ndarray
    buckets: int


@functools.lru_cache(maxsize=8)
def poisson_tables(photons: int, rounding: Rounding = "truncate") -> PoissonTables:
    rate = np.arange(256) / 255.0 * photons
    support = int(np.ceil(photons + 12 * np.sqrt(photons) + 12))
    counts = np.arange(support)
    log_factorial = np.concatenate(([0.0], np.cumsum(np.log(counts[1:]))))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = counts * np.log(rate[:, None]) - rate[:, None] - log_factorial
    pmf = np.exp(log_pmf)
    pmf[0] = 0.0
    pmf[0, 0] = 1.0  # rate 0: always 0 photons (0 * log 0 above is nan)
    cdf = np.cumsum(pmf, axis=1)
    cdf[:, -1] = np.inf
    buckets = 4 * support
    edges = np.arange(buckets) / buckets
    guide = np.stack([np.searchsorted(row, edges, side="right") for row in cdf]).astype(np.int32)
    grey = np.clip(counts / float(photons), 0, 1) * 255  # the reference's count -> grey level
    tables = PoissonTables(cdf.ravel(), guide.ravel(), to_uint8(grey, rounding=rounding), buckets)
    for table in (tables.cdf, tables.guide, tables.grey):
        table.setflags(write=False)
    return tables


def sample_poisson_grey(
    block: np.ndarray, tables: PoissonTables, rng: np.random.Generator
) -> np.ndarray:
    """One Poisson draw per value of ``block`` (uint8 grey levels) by inverse-CDF lookup, returned
    as the output grey level. Same distribution as ``rng.poisson`` at a fraction of its cost,
    because the rate takes only 256 values."""
    grey = block.astype(np.intp)
    uniform = rng.random(block.shape)
    support = len(tables.grey)
    start = tables.guide[grey * tables.buckets + (uniform * tables.buckets).astype(np.intp)]
    position = (grey * support + start).ravel()
    uniform = uniform.ravel()
    pending = np.flatnonzero(tables.cdf[position] <= uniform)
    while pending.size:  # step up until cdf > u; the guide leaves few pixels and few steps
        position[pending] += 1
        pending = pending[tables.cdf[position[pending]] <= uniform[pending]]
    counts = position - grey.ravel() * support
    return tables.grey[counts].reshape(block.shape)


@register_perturbation("shot_noise")
class ShotNoise(VisualCorruption):
    """``Poisson(x * photons) / photons`` with x in [0, 1]: fewer photons, more noise."""

    category = "noise"
    levels = tuple({"photons": p} for p in (60, 25, 12, 5, 3))

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        tables = poisson_tables(level["photons"], self.rounding)
        return map_rows(img, lambda block: sample_poisson_grey(block, tables, rng))


@register_perturbation("speckle_noise")
class SpeckleNoise(VisualCorruption):
    """``x + x * N(0, sigma)``: noise proportional to the intensity."""

    category = "noise"
    levels = tuple({"sigma": s} for s in (0.15, 0.2, 0.35, 0.45, 0.6))

    def corrupt(
        self, img: np.ndarray, level: dict[str, Any], rng: np.random.Generator
    ) -> np.ndarray:
        sigma = np.float32(level["sigma"])

        def add_speckle(block: np.ndarray) -> np.ndarray:
            noise = rng.standard_normal(block.shape, dtype=np.float32)
            noise *= sigma
            noise += 1.0
            return np.multiply(block, noise, out=noise)

        return map_grey_levels(img, add_speckle, self.rounding)
