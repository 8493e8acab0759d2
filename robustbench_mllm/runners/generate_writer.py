"""Stream rows into a variant parquet file in row groups, so a 9000-row POPE variant with an
image in every row never sits in memory at once. Same schema (and ``datasets`` feature metadata)
as ``dataset_schema.write_variant``: the file loads with ``datasets.load_dataset("parquet", ...)``."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

ROWS_PER_GROUP = 64


def write_rows(path: Path, rows: Iterable[dict[str, Any]], rows_per_group: int = ROWS_PER_GROUP) -> int:
    """Write ``rows`` to ``path``; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from robustbench_mllm.dataset_schema import features

    schema = features().arrow_schema
    iterator = iter(rows)
    count = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        while chunk := list(islice(iterator, rows_per_group)):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            count += len(chunk)
        if count == 0:
            writer.write_table(schema.empty_table())
    return count
