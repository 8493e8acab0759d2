"""A variant file as ``publish`` uploads it, and what the dataset card says about it.

A column that is empty in every row of a variant (``label`` and ``choices`` of an open-ended data
set, ``choices`` of a yes/no one) tells a Hub user nothing, so the published copy leaves it out;
otherwise the copy is the generated file byte for byte. Leaving columns out keeps everything else
as ``store.variant_writer`` wrote it: the same row groups, the image bytes dictionary-encoded
(each distinct image once per row group), no Arrow schema, the features under the usual
``huggingface`` key (minus the columns left out).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.store.variant_writer import DICTIONARY_PAGE_BYTES

OMITTED_WHEN_EMPTY = ("label", "choices")


@dataclass(frozen=True)
class PublishedFile:
    dropped: tuple[str, ...]  # columns left out
    features: Any  # datasets.Features of the published file
    num_bytes: int  # the rows in memory (Arrow), as ``datasets`` counts a split's num_bytes
    download_size: int  # the file's size


def empty_columns(path: Path, candidates: Sequence[str] = OMITTED_WHEN_EMPTY) -> tuple[str, ...]:
    """Those of ``candidates`` that hold only empty values ("", [], null) in ``path``."""
    import pyarrow.parquet as pq

    present = [c for c in candidates if c in pq.read_schema(str(path)).names]
    table = pq.read_table(str(path), columns=present)
    return tuple(c for c in present if not any(table.column(c).to_pylist()))


def _features(metadata: dict[bytes, bytes], dropped: Sequence[str]) -> tuple[Any, bytes]:
    import datasets

    info = json.loads(metadata[b"huggingface"])
    spec = {k: v for k, v in info["info"]["features"].items() if k not in dropped}
    info["info"]["features"] = spec
    return datasets.Features.from_dict(spec), json.dumps(info).encode()


def _num_bytes(path: Path, columns: Sequence[str]) -> int:
    """The rows' Arrow size with every image written out, as ``datasets`` holds them."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(str(path)) as parquet:
        return sum(parquet.read_row_group(g, columns=list(columns)).nbytes for g in range(parquet.num_row_groups))


def write_published(source: Path, target: Path) -> PublishedFile:
    """Write ``source``'s published copy to ``target`` (atomically) and describe it."""
    import pyarrow.parquet as pq

    dropped = empty_columns(source)
    partial = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with pq.ParquetFile(str(source), read_dictionary=["image.bytes"]) as parquet:
        features, metadata = _features(parquet.metadata.metadata or {}, dropped)
        if not dropped:
            shutil.copyfile(source, partial)
        else:
            schema = parquet.schema_arrow.remove_metadata()
            for name in dropped:
                schema = schema.remove(schema.get_field_index(name))
            options = {"use_dictionary": True, "dictionary_pagesize_limit": DICTIONARY_PAGE_BYTES, "store_schema": False}
            with pq.ParquetWriter(str(partial), schema, **options) as writer:
                writer.add_key_value_metadata({b"huggingface": metadata})
                for group in range(parquet.num_row_groups):
                    table = parquet.read_row_group(group).drop_columns(list(dropped))
                    writer.write_table(table, row_group_size=max(table.num_rows, 1))
    os.replace(partial, target)
    return PublishedFile(dropped, features, _num_bytes(target, list(features)), target.stat().st_size)
