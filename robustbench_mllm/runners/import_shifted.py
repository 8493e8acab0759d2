"""``robust-mllm import-shifted``: the authors' published shifted LB-COCO sets written as
generated variants (``GENERATED/<dataset>/<variant>/data.parquet`` plus ``manifest.json``), so
``evaluate`` runs on them like on our own. Reading and naming the splits is
``sources.published_shift``'s."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.records import VariantSpec
from robustbench_mllm.sources.published_shift import (
    ShiftSplit,
    dataset_homepage,
    is_shift_split,
    load_published,
    parse_split,
    shift_kind,
    split_image_ids,
    split_items,
)
from robustbench_mllm.store.layout import variant_file
from robustbench_mllm.store.manifest import add_imported_variants
from robustbench_mllm.store.variant_schema import item_to_row
from robustbench_mllm.store.variant_writer import write_variant_folder


def _image_ext(data: bytes) -> str:
    return "png" if data.startswith(b"\x89PNG") else "jpg"


def _write_split(out: Path, table: Any, shift: ShiftSplit, image_ids: Sequence[str] | None) -> None:
    """Rows into a hidden temp folder, renamed into place when complete (a crash leaves no
    half-written variant; ``list_variants`` skips hidden folders)."""
    rows = []
    for item in split_items(table, shift, image_ids):
        assert isinstance(item.image, bytes)
        row = item_to_row(item, VariantSpec(), item.image, _image_ext(item.image))
        row.update(variant=shift.variant, perturbation=shift.perturbation,
                   modality=shift.modality, severity=shift.severity)
        rows.append(row)
    write_variant_folder(out, shift.dataset, shift.variant, rows)


def import_shifted(source: str, out: Path, splits: Sequence[str] = ()) -> list[ShiftSplit]:
    """Write every (or each named) split of ``source`` under ``out``; variants already there are
    kept. Returns where each split went."""
    out = Path(out)
    loaded = load_published(source)
    shift_splits = [n for n in sorted(loaded.keys()) if is_shift_split(n)]  # others: not shifts
    names = list(splits) or shift_splits
    unknown = [n for n in names if n not in loaded]
    if unknown:
        raise DataFormatError(f"{source}: no split(s) {unknown}; has {sorted(loaded.keys())}")
    kind = shift_kind(shift_splits)
    shifts = [parse_split(name, kind) for name in names]
    base_ids: dict[str, list[str]] = {}  # group -> image id per row, from the group's base split
    for base in (parse_split(n, kind) for n in shift_splits):
        if base.base and base.group in {s.group for s in shifts}:
            base_ids[base.group] = split_image_ids(loaded[base.split], base.split)
    for shift in shifts:
        if not variant_file(out, shift.dataset, shift.variant).is_file():
            _write_split(out, loaded[shift.split], shift, base_ids.get(shift.group))
    add_imported_variants(out, source, [
        (s.dataset, s.variant, {"modality": s.modality, "perturbation": s.perturbation,
                                "severity": s.severity, "source_split": s.split})
        for s in shifts
    ], {s.dataset: dataset_homepage(s.dataset) for s in shifts})
    return shifts
