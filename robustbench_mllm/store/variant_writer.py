"""Write rows into a variant parquet file, storing each distinct image once.

POPE has 9000 rows over 500 images: the 6 questions of one image are consecutive within each of
its 3 splits, so the 3 runs of one image lie a whole split apart. The writer therefore stores the
rows grouped by image (``by_image``: images in first-seen order, each image's rows in their
order), each row carrying its ``position`` in the order given, which ``store.variants`` restores.
Each row group's image bytes go to the parquet writer as a dictionary array (the group's distinct
images plus one index per row, ``_image_column``), written as the column's dictionary page as it
is; the dictionary page limit is above the row group's images, so the writer never falls back to
plain encoding. A row group thus stores each of its images once plus a small index per row, and
as all rows of an image are consecutive, the file holds every distinct image once, whatever the
order of the rows given (POPE: 500 images, not 1500). (The file carries no Arrow schema, see
``write_rows``; readers see plain binary.)

Row groups hold at most ``GROUP_IMAGE_BYTES`` of row images (counting every row's copy), because
``datasets.load_dataset`` reads a whole row group into one record batch with every row's bytes
written out (Arrow cannot do that above 2 GiB for a nested column, and it costs that memory). A
group ends before a run of rows sharing an image rather than inside it (only a run larger than
the limit is cut). The grouping depends only on the rows, so the same rows give the same bytes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import sha256_file
from robustbench_mllm.store.layout import VARIANT_FILE, variant_dir
from robustbench_mllm.store.variant_schema import POSITION

GROUP_IMAGE_BYTES = 64 * 2**20
# A group holding the rows of one image alone may grow to this (a 5.7 MB PNG in 18 POPE rows is
# 102 MB), so the image is still stored once; far below Arrow's 2 GiB per batch.
RUN_IMAGE_BYTES = 16 * GROUP_IMAGE_BYTES
# Per column chunk; above the group limit so the image dictionary always fits (parquet pages
# must stay below 2 GiB).
DICTIONARY_PAGE_BYTES = 2 * GROUP_IMAGE_BYTES


def _image_bytes(row: dict[str, Any]) -> bytes | None:
    image = row.get("image")
    if image is None:
        return None
    if not isinstance(image, dict):
        raise DataFormatError(
            f"row {row.get('id')!r}, field 'image': expected a {{'bytes', 'path'}} dict, got {type(image).__name__}"
        )
    return image.get("bytes")


def _same_image(a: bytes | None, b: bytes | None) -> bool:
    return a is b or a == b


def by_image(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` regrouped so the rows of each image are consecutive (images in first-seen order,
    rows of one image in their order), each with its ``position`` in the order given."""
    runs: dict[bytes | None, list[dict[str, Any]]] = {}
    for position, row in enumerate(rows):
        data = _image_bytes(row)
        if data is not None and not isinstance(data, bytes):
            raise DataFormatError(f"row {position} (id {row.get('id')!r}), field 'image': bytes expected, "
                                  f"got {type(data).__name__}")
        runs.setdefault(data, []).append({**row, POSITION: position})
    return [row for run in runs.values() for row in run]


def row_groups(
    rows: Iterable[dict[str, Any]], limit: int = GROUP_IMAGE_BYTES, run_limit: int = RUN_IMAGE_BYTES
) -> Iterator[list[dict[str, Any]]]:
    """Consecutive rows cut into groups of at most ``limit`` row-image bytes, cutting before a run
    of rows that share an image rather than inside it; a run larger than ``limit`` gets a group
    of its own, cut only beyond ``run_limit``."""
    group: list[dict[str, Any]] = []
    size = 0
    run_start = 0  # where the run of rows sharing the last row's image begins in ``group``
    for row in rows:
        data = _image_bytes(row)
        length = len(data) if data is not None else 0
        continues_run = bool(group) and _same_image(_image_bytes(group[-1]), data)
        if group and size + length > limit and continues_run and run_start > 0:
            yield group[:run_start]  # the run moves on to the next group whole
            group = group[run_start:]
            size, run_start = length * len(group), 0
        alone = continues_run and run_start == 0  # the group is one run so far
        if group and size + length > (max(limit, run_limit) if alone else limit):
            yield group
            group, size = [], 0
        if not group or not continues_run:
            run_start = len(group)
        group.append(row)
        size += length
    if group:
        yield group


def _first_bad_field(group: list[dict[str, Any]], schema: Any, first_row: int) -> str:
    """Which row and field of ``group`` (that Arrow refused as a whole) break the schema."""
    import pyarrow as pa

    for offset, row in enumerate(group):
        for field in schema:
            try:
                pa.array([row.get(field.name)], type=field.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                return f"row {row.get(POSITION, first_row + offset)} (id {row.get('id')!r}), field {field.name!r}: {exc}"
    return f"rows {first_row}..{first_row + len(group) - 1} do not fit the variant schema"


def _image_column(group: list[dict[str, Any]], image_type: Any) -> Any:
    """The ``image`` struct column of ``group`` with ``bytes`` as a dictionary of its distinct
    images plus one index per row (``image_type`` from ``written_schema``).

    Converting row by row would copy every row's image bytes through Python, and the parquet
    encoder would then hash every copy to find the distinct ones (POPE: 18 copies of each ~700 KB
    image, half the generate time); a dictionary array is written as it is. Equal images map to
    one entry (rows sharing one ``bytes`` object, as from ``ImageCache``, hash it once)."""
    import pyarrow as pa

    position: dict[bytes, int] = {}
    indices: list[int | None] = []
    paths: list[Any] = []
    missing: list[bool] = []
    for row in group:
        image = row.get("image")
        missing.append(image is None)
        data = None if image is None else image.get("bytes")
        paths.append(None if image is None else image.get("path"))
        indices.append(None if data is None else position.setdefault(data, len(position)))
    fields = {field.name: field for field in image_type}
    image_bytes = pa.DictionaryArray.from_arrays(
        pa.array(indices, fields["bytes"].type.index_type), pa.array(list(position), fields["bytes"].type.value_type)
    )
    image_paths = pa.array(paths, fields["path"].type)
    mask = pa.array(missing, pa.bool_()) if any(missing) else None
    return pa.StructArray.from_arrays([image_bytes, image_paths], fields=[fields["bytes"], fields["path"]], mask=mask)


def written_schema(schema: Any) -> Any:
    """``schema`` (the variant features' Arrow schema) with the image bytes dictionary-typed."""
    import pyarrow as pa

    image = schema.field("image")
    fields = [pa.field("bytes", pa.dictionary(pa.int32(), pa.binary())) if f.name == "bytes" else f for f in image.type]
    return pa.schema(
        [image.with_type(pa.struct(fields)) if f.name == "image" else f for f in schema], metadata=schema.metadata
    )


def _group_table(group: list[dict[str, Any]], schema: Any) -> Any:
    """The rows of ``group`` as a table of ``schema`` (from ``written_schema``)."""
    import pyarrow as pa

    others = pa.schema([field for field in schema if field.name != "image"])
    rest = pa.Table.from_pylist([{k: v for k, v in row.items() if k != "image"} for row in group], schema=others)
    image = _image_column(group, schema.field("image").type)
    columns = [image if field.name == "image" else rest.column(field.name) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def write_rows(path: Path, rows: Iterable[dict[str, Any]], group_limit: int = GROUP_IMAGE_BYTES) -> int:
    """Write ``rows`` (``store.variant_schema.item_to_row`` dicts) to ``path``, grouped by image
    (``by_image``); returns the row count. Holds the rows and each distinct image once in memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from robustbench_mllm.store.variant_schema import features

    plain = features().arrow_schema
    schema = written_schema(plain)
    count = 0
    # No Arrow schema in the file: it would record the dictionary type, and ``datasets`` would
    # then not see the ``Image`` its features name; readers see plain binary, as before. The
    # features themselves go in as the usual "huggingface" key.
    options = {"use_dictionary": True, "dictionary_pagesize_limit": DICTIONARY_PAGE_BYTES, "store_schema": False}
    with pq.ParquetWriter(str(path), schema, **options) as writer:
        writer.add_key_value_metadata({b"huggingface": schema.metadata[b"huggingface"]})
        for group in row_groups(by_image(rows), group_limit):
            try:
                table = _group_table(group, schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:  # TypeError: unhashable bytes
                raise DataFormatError(f"{path}: {_first_bad_field(group, plain, count)}") from exc
            writer.write_table(table, row_group_size=len(group))
            count += len(group)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count


def write_variant_folder(out: Path, dataset: str, variant: str, rows: Iterable[dict[str, Any]]) -> tuple[int, str]:
    """Write a variant into a hidden temp folder beside its final place, then rename it there: a
    variant folder is either complete or absent (``list_variants`` skips hidden folders, and the
    generate runner removes stale ones). Returns (row count, sha256 of the parquet file)."""
    final = variant_dir(out, dataset, variant)
    temp = final.parent / f".{variant}.tmp-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    count = write_rows(temp / VARIANT_FILE, rows)
    digest = sha256_file(temp / VARIANT_FILE)
    os.replace(temp, final)
    return count, digest
