"""Read generated variants back: which are present, their items, their label columns.

Every later stage (evaluate, judge, emid, represent, report, publish) reads ``GENERATED/`` only
through this module and ``store.manifest``. A variant counts as present when its folder holds
``data.parquet``; hidden folders (``.<variant>.tmp-*``, a write cut short by a crash) are ignored
because the writer renames a variant into place only once it is complete.

Read with pyarrow directly, which needs no cache folder. The image bytes are dictionary-encoded
(``store.variant_writer``) and read back as a dictionary: rows showing the same image share one
``bytes`` object instead of each holding a copy (POPE: 500 images, 9000 rows). Rows are stored
grouped by image; every reader here returns them in the data set's order (their ``position``
column; files written before it existed are in that order already) and without that column.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import ConfigError, DataFormatError, MissingResourceError
from robustbench_mllm.records import Item
from robustbench_mllm.store.layout import VARIANT_FILE, variant_file
from robustbench_mllm.store.variant_schema import POSITION, row_to_item


def _images(column: Any, shared: dict[bytes, bytes]) -> list[dict[str, Any] | None]:
    """Each row's {"bytes", "path"} from an ``image`` column read as a dictionary, with one
    ``bytes`` object per distinct image (``shared`` maps content to it), not one copy per row."""
    images: list[dict[str, Any] | None] = []
    for chunk in column.chunks:
        encoded = chunk.field("bytes")
        values = [None if v is None else shared.setdefault(v, v) for v in encoded.dictionary.to_pylist()]
        for valid, index, image_path in zip(
            chunk.is_valid().to_pylist(), encoded.indices.to_pylist(), chunk.field("path").to_pylist()
        ):
            images.append({"bytes": None if index is None else values[index], "path": image_path} if valid else None)
    return images


def _group_rows(parquet: Any, group: int, shared: dict[bytes, bytes]) -> list[dict[str, Any]]:
    table = parquet.read_row_group(group)
    rows = table.drop_columns(["image"]).to_pylist()
    for row, image in zip(rows, _images(table.column("image"), shared)):
        row["image"] = image
    return rows


@contextlib.contextmanager
def _readable(path: Path) -> Iterator[None]:
    """A variant file pyarrow cannot read (truncated, not parquet) is one line naming it."""
    import pyarrow as pa

    try:
        yield
    except pa.ArrowInvalid as exc:
        raise DataFormatError(f"{path}: not a readable variant file ({exc}); generate this variant again") from None


def _open(path: Path) -> Any:
    import pyarrow.parquet as pq

    # the image bytes come back as a dictionary: each distinct image once per row group
    with _readable(path):
        return pq.ParquetFile(str(path), read_dictionary=["image.bytes"])


def in_order(rows: list[dict[str, Any]], keep: bool = False) -> list[dict[str, Any]]:
    """``rows`` sorted by their ``position``, which is then dropped unless ``keep`` (rows without
    one, from files written before it, are in order already)."""
    if not rows or POSITION not in rows[0]:
        return rows
    if rows[0][POSITION] is not None:  # null: written without positions, in order already
        rows.sort(key=lambda row: row[POSITION])
    if not keep:
        for row in rows:
            del row[POSITION]
    return rows


def read_variant_rows(path: Path) -> list[dict[str, Any]]:
    """All rows of a variant file as dicts (image as {"bytes", "path"}), in the data set's order;
    rows showing the same image share one ``bytes`` object."""
    shared: dict[bytes, bytes] = {}
    with _open(path) as parquet:
        return in_order([row for group in range(parquet.num_row_groups) for row in _group_rows(parquet, group, shared)])


def read_variant(path: Path) -> list[Item]:
    return [row_to_item(row) for row in read_variant_rows(path)]


def iter_variant(path: Path, batch_size: int) -> Iterator[list[Item]]:
    """The items of a variant file in batches of ``batch_size`` (the last may be shorter), in the
    data set's order. Memory: the variant's distinct images, each once (rows are stored grouped by
    image, so a batch in the data set's order may need images from anywhere in the file)."""
    if batch_size < 1:
        raise ConfigError(f"`batch_size` must be at least 1, got {batch_size}")
    items = read_variant(path)
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def variant_order(name: str) -> tuple[int, str]:
    """``clean`` first, then alphabetical: a stable order for tables and loops."""
    return (0 if name == "clean" else 1, name)


def list_variants(generated_dir: Path) -> dict[str, list[str]]:
    """``{dataset: [variant, ...]}`` for every complete variant under ``generated_dir``."""
    root = Path(generated_dir)
    if not root.is_dir():
        raise MissingResourceError(f"{root}: no generated data here (make it with `robust-mllm generate`)")
    found: dict[str, list[str]] = {}
    for dataset_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        variants = [
            v.name
            for v in dataset_dir.iterdir()
            if v.is_dir() and not v.name.startswith(".") and (v / VARIANT_FILE).is_file()
        ]
        if variants:
            found[dataset_dir.name] = sorted(variants, key=variant_order)
    return found


def _existing_variant(generated_dir: Path, dataset: str, variant: str) -> Path:
    path = variant_file(Path(generated_dir), dataset, variant)
    if not path.is_file():
        present = list_variants(generated_dir) if Path(generated_dir).is_dir() else {}
        known = ", ".join(f"{d}/{v}" for d, vs in present.items() for v in vs) or "none"
        raise MissingResourceError(f"{path}: no such variant {dataset}/{variant}. Present: {known}")
    return path


def load_items(generated_dir: Path, dataset: str, variant: str) -> list[Item]:
    """The items of one variant, in the order they were written (the source's order). Items
    showing the same image share one ``bytes`` object (POPE: 500 images for 9000 items)."""
    return read_variant(_existing_variant(generated_dir, dataset, variant))


def iter_items(generated_dir: Path, dataset: str, variant: str, batch_size: int = 256) -> Iterator[list[Item]]:
    """``load_items`` in batches of ``batch_size``, reading one row group at a time, for callers
    that need not hold a whole variant in memory."""
    return iter_variant(_existing_variant(generated_dir, dataset, variant), batch_size)


def row_count(path: Path) -> int:
    """Rows of a variant file, from its footer (no data read)."""
    import pyarrow.parquet as pq

    with _readable(path):
        return int(pq.ParquetFile(str(path)).metadata.num_rows)


def read_columns(path: Path, columns: list[str], *, item_id: str | None = None) -> list[dict[str, Any]]:
    """Only ``columns`` of a variant file (cheap: the image column is skipped unless named), or
    only the rows of one item with ``item_id``, in the data set's order."""
    import pyarrow.parquet as pq

    filters = [("id", "=", item_id)] if item_id is not None else None
    with _readable(path):
        if POSITION not in pq.read_schema(str(path)).names:
            return pq.read_table(str(path), columns=columns, filters=filters).to_pylist()
        wanted = columns if POSITION in columns else [*columns, POSITION]
        rows = pq.read_table(str(path), columns=wanted, filters=filters).to_pylist()
    return in_order(rows, keep=POSITION in columns)


_LABEL_COLUMNS = ["id", "dataset", "split", "question", "label", "choices", "image_id"]


def read_labelled_items(data: Path, dataset: str, variant: str) -> list[Item]:
    """The items of a variant without their images (scoring needs labels only)."""
    rows = read_columns(variant_file(data, dataset, variant), _LABEL_COLUMNS)
    return [
        Item(id=r["id"], dataset=r["dataset"], split=r["split"], question=r["question"], image=None,
             image_id=r["image_id"], label=r["label"], choices=tuple(r["choices"] or ()))
        for r in rows
    ]


ITEM_COLUMNS = ("id", "image_id", "split", "category", "label", "choices", "question", "reference_answer",
                "modality", "severity", "perturbation")


def file_version(path: Path) -> tuple[int, int]:
    """(mtime, size), (0, -1) when absent: part of a cache key, so a file rewritten since is read again."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


def read_item_table(data: Path, dataset: str, variant: str) -> tuple[dict[str, Any], ...]:
    """The variant's rows without image bytes (``ITEM_COLUMNS`` present in the file), cached per
    file version; empty when the variant is absent."""
    path = variant_file(data, dataset, variant)
    return _read_item_table(path, *file_version(path))


@functools.lru_cache(maxsize=256)
def _read_item_table(path: Path, mtime_ns: int, size: int) -> tuple[dict[str, Any], ...]:
    import pyarrow.parquet as pq

    if size < 0:
        return ()
    with _readable(path):
        names = set(pq.read_schema(str(path)).names)
    missing = {"id", "image_id"} - names
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {sorted(missing)}")
    return tuple(read_columns(path, [c for c in ITEM_COLUMNS if c in names]))
