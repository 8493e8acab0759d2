"""Read back what ``robust-mllm generate`` wrote: the variants present and their items.

Later stages (evaluate, emid, represent, report) read generated data only through this module and
``dataset_schema``, never through the generator's internals. A variant counts as present when its
folder holds ``data.parquet``; hidden folders (``.<variant>.tmp-*``, a write cut short by a crash)
are ignored because the generator renames a variant into place only once it is complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robustbench_mllm.dataset_schema import iter_variant, read_variant
from robustbench_mllm.io_utils import DataFormatError, read_json, sha256_file
from robustbench_mllm.layout import MANIFEST, VARIANT_FILE, variant_file
from robustbench_mllm.records import Item


def _variant_order(name: str) -> tuple[int, str]:
    """``clean`` first, then alphabetical: a stable order for tables and loops."""
    return (0 if name == "clean" else 1, name)


def list_variants(generated_dir: Path) -> dict[str, list[str]]:
    """``{dataset: [variant, ...]}`` for every complete variant under ``generated_dir``."""
    root = Path(generated_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no generated data here (run `robust-mllm generate --out {root}`)")
    found: dict[str, list[str]] = {}
    for dataset_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        variants = [
            v.name
            for v in dataset_dir.iterdir()
            if v.is_dir() and not v.name.startswith(".") and (v / VARIANT_FILE).is_file()
        ]
        if variants:
            found[dataset_dir.name] = sorted(variants, key=_variant_order)
    return found


def _existing_variant(generated_dir: Path, dataset: str, variant: str) -> Path:
    path = variant_file(Path(generated_dir), dataset, variant)
    if not path.is_file():
        present = list_variants(generated_dir) if Path(generated_dir).is_dir() else {}
        known = ", ".join(f"{d}/{v}" for d, vs in present.items() for v in vs) or "none"
        raise FileNotFoundError(f"{path}: no such variant {dataset}/{variant}. Present: {known}")
    return path


def load_items(generated_dir: Path, dataset: str, variant: str) -> list[Item]:
    """The items of one variant, in the order they were written (the source's order). Items
    showing the same image share one ``bytes`` object (POPE: 500 images for 9000 items)."""
    return read_variant(_existing_variant(generated_dir, dataset, variant))


def iter_items(generated_dir: Path, dataset: str, variant: str, batch_size: int = 256) -> Iterator[list[Item]]:
    """``load_items`` in batches of ``batch_size``, reading one row group at a time, for callers
    that need not hold a whole variant in memory."""
    return iter_variant(_existing_variant(generated_dir, dataset, variant), batch_size)


def read_manifest(generated_dir: Path) -> dict[str, Any]:
    path = Path(generated_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (is {generated_dir} a `robust-mllm generate` output?)")
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise DataFormatError(f"{path}: expected a JSON object")
    return manifest


def manifest_sha256(generated_dir: Path) -> str:
    """sha256 of ``manifest.json``: it lists the sha256 of every data file, so this one hash pins
    the whole generated data set (run.json records it)."""
    path = Path(generated_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (is {generated_dir} a `robust-mllm generate` output?)")
    return sha256_file(path)
