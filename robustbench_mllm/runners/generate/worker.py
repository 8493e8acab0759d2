"""One unit of generator work: the variants of one data set that share one image treatment.

A unit is (data set, visual perturbation or none, severity): the visual variant and its joint
variants use the same corrupted images, and clean + textual variants use the clean images. Each
distinct image of the unit is read from the run's decoded arrays (``runners.generate.decoded``: no unit
decodes a JPEG/PNG), corrupted and encoded once (POPE: 9000 rows, 500 images), with its generator
drawn from (seed, visual perturbation, severity, image id), so the bytes do not depend on which
process runs the unit or in what order. A unit carries paths and text only (its items without
their image bytes), so sending it to a worker process is cheap. Each variant is written into a
hidden temp folder and renamed into place when complete.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from robustbench_mllm.imaging import ImageFormat
from robustbench_mllm.records import Item, VariantSpec
from robustbench_mllm.runners.generate.decoded import load_array
from robustbench_mllm.runners.generate.plan import Engine, GenerateConfig
from robustbench_mllm.runners.generate.texts import TextKey
from robustbench_mllm.seeding import make_rng
from robustbench_mllm.store.layout import VARIANT_FILE, variant_dir
from robustbench_mllm.store.variant_schema import item_to_row
from robustbench_mllm.store.variant_writer import write_variant_folder


@dataclass(frozen=True)
class WorkUnit:
    dataset: str
    visual: str | None
    severity: int
    specs: tuple[VariantSpec, ...]
    items: tuple[Item, ...]  # without image bytes: pixels come from ``arrays``
    texts: dict[TextKey, list[str]]
    arrays: dict[str, Path]  # image id -> decoded array file
    out_dir: Path
    engine: Engine
    protocol: str
    seed: int
    image_format: ImageFormat
    quality: int
    image_ext: str
    assets: str | None  # folder of third-party files (frost textures) the perturbation reads


@dataclass(frozen=True)
class VariantResult:
    dataset: str
    variant: str
    rows: int
    seconds: float
    # hashed here, in the worker, while the file is in the page cache: the manifest needs it, and
    # hashing a POPE variant (~1 GB) in the main process after all workers finish is serial
    sha256: str


class ImageCache:
    """Encoded images of one unit by image id: each is loaded, corrupted and encoded once. Holds
    one treatment's images (POPE: 500, ~350 MB as PNG), as each image recurs in all 3 splits."""

    def __init__(self, unit: WorkUnit) -> None:
        from robustbench_mllm.perturbations.base import perturbation_for
        from robustbench_mllm.registry import load_registry

        self.unit = unit
        load_registry("perturbations")
        self.pert: Any = perturbation_for(unit.visual, unit.protocol) if unit.visual else None
        if self.pert is not None:
            self.pert.use_assets(Path(unit.assets) if unit.assets else None)
        self._encoded: dict[str, bytes] = {}

    def get(self, item: Item) -> bytes:
        if item.image_id not in self._encoded:
            self._encoded[item.image_id] = self._make(item)
        return self._encoded[item.image_id]

    def _make(self, item: Item) -> bytes:
        from robustbench_mllm.imaging import encode_image

        unit = self.unit
        img = load_array(unit.arrays[item.image_id])
        if self.pert is not None:
            rng = make_rng(unit.seed, unit.visual, unit.severity, item.image_id)
            corrupt = self.pert.apply if unit.engine == "fast" else self.pert.apply_reference
            img = corrupt(img, unit.severity, rng)
        return encode_image(img, unit.image_format, unit.quality)


def _rows(unit: WorkUnit, spec: VariantSpec, cache: ImageCache) -> Iterator[dict[str, Any]]:
    texts = unit.texts[(spec.text, spec.severity)] if spec.text else None
    for index, item in enumerate(unit.items):
        if texts is not None:
            item = replace(item, question=texts[index])
        yield item_to_row(item, spec, cache.get(item), unit.image_ext)


def _write_variant(unit: WorkUnit, spec: VariantSpec, cache: ImageCache) -> VariantResult:
    started = time.perf_counter()
    rows, digest = write_variant_folder(unit.out_dir, unit.dataset, spec.name, _rows(unit, spec, cache))
    return VariantResult(unit.dataset, spec.name, rows, time.perf_counter() - started, digest)


def run_unit(unit: WorkUnit) -> list[VariantResult]:
    """Write every variant of ``unit`` that is not on disk yet."""
    cache = ImageCache(unit)
    return [
        _write_variant(unit, spec, cache)
        for spec in unit.specs
        if not (variant_dir(unit.out_dir, unit.dataset, spec.name) / VARIANT_FILE).is_file()
    ]


def make_units(
    dataset: str, items: Sequence[Item], specs: Sequence[VariantSpec], texts: dict[TextKey, list[str]],
    arrays: dict[str, Path], out_dir: Path, params: GenerateConfig,
) -> list[WorkUnit]:
    """Group ``specs`` by image treatment, in first-seen order (``params`` after ``with_storage``)."""
    image_format, quality = params.storage
    # a hub source's items hold the encoded image: every unit would carry (and pickle) it
    light = tuple(replace(item, image=None) for item in items)
    groups: dict[tuple[str | None, int], list[VariantSpec]] = {}
    for spec in specs:
        groups.setdefault((spec.visual, spec.severity if spec.visual else 0), []).append(spec)
    units = []
    for (visual, severity), group in groups.items():
        needed = {(s.text, s.severity) for s in group if s.text}
        units.append(WorkUnit(
            dataset=dataset, visual=visual, severity=severity, specs=tuple(group), items=light,
            texts={k: v for k, v in texts.items() if k in needed}, arrays=arrays,
            out_dir=Path(out_dir), engine=params.engine, protocol=params.protocol, seed=params.seed,
            image_format=image_format, quality=quality, image_ext=params.image_ext, assets=params.assets,
        ))
    return units
