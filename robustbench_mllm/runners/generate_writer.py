"""Write rows into a variant parquet file, each run of rows sharing an image storing it once.

POPE has 9000 rows over 500 images, the 6 questions of one image consecutive within each of its 3
splits. The image bytes are dictionary-encoded with a dictionary page limit above the row group's
images, so the writer never falls back to plain encoding: a row group stores each distinct image
once plus a small index per row.

Row groups hold at most ``GROUP_IMAGE_BYTES`` of row images (counting every row's copy), because
``datasets.load_dataset`` reads a whole row group into one record batch with every row's bytes
written out (Arrow cannot do that above 2 GiB for a nested column, and it costs that memory). A
group ends before a run of consecutive rows sharing an image rather than inside it, so each run
is stored once: POPE keeps one copy per image per split (3), as the 3 runs of one image lie a whole
split apart, far beyond any row group ``datasets`` could read. Storing each image once would need
rows grouped by image, i.e. a different item order; rows keep the order given. The grouping
depends only on the rows, so the same rows always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import DataFormatError

GROUP_IMAGE_BYTES = 64 * 2**20
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


def row_groups(rows: Iterable[dict[str, Any]], limit: int = GROUP_IMAGE_BYTES) -> Iterator[list[dict[str, Any]]]:
    """Consecutive rows cut into groups of at most ``limit`` row-image bytes, cutting before a run
    of rows that share an image rather than inside it (a run larger than ``limit`` is cut)."""
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
        if group and size + length > limit:
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
                return f"row {first_row + offset} (id {row.get('id')!r}), field {field.name!r}: {exc}"
    return f"rows {first_row}..{first_row + len(group) - 1} do not fit the variant schema"


def write_rows(path: Path, rows: Iterable[dict[str, Any]], group_limit: int = GROUP_IMAGE_BYTES) -> int:
    """Write ``rows`` (``dataset_schema.item_to_row`` dicts) to ``path``; returns the row count.

    Holds one row group at a time in memory (at most ``group_limit`` bytes of images)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from robustbench_mllm.dataset_schema import features

    schema = features().arrow_schema
    count = 0
    options = {"use_dictionary": True, "dictionary_pagesize_limit": DICTIONARY_PAGE_BYTES}
    with pq.ParquetWriter(str(path), schema, **options) as writer:
        for group in row_groups(rows, group_limit):
            try:
                table = pa.Table.from_pylist(group, schema=schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise DataFormatError(f"{path}: {_first_bad_field(group, schema, count)}") from exc
            writer.write_table(table, row_group_size=len(group))
            count += len(group)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count
