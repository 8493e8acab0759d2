"""The columns of a generated variant (``<dataset>/<variant>/data.parquet``) and their round trip.

Written with ``datasets`` features (the image column is a ``datasets.Image``), so a variant loads
back with ``datasets.load_dataset("parquet", data_files=...)``; read here with pyarrow directly,
which needs no cache folder. The image bytes are dictionary-encoded, so a row group stores each
distinct image once (``runners.generate_writer``), and are read back as a dictionary: rows showing
the same image share one ``bytes`` object instead of each holding a copy (POPE: 500 images, 9000
rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from robustbench_mllm.records import Item, JudgeContext, VariantSpec

STRING_COLUMNS = (
    "id", "source_id", "dataset", "split", "image_id", "question", "reference_answer",
    "category", "label", "context", "variant", "perturbation", "modality",
)


def features() -> Any:
    import datasets

    spec: dict[str, Any] = {name: datasets.Value("string") for name in STRING_COLUMNS}
    spec["image"] = datasets.Image()
    spec["choices"] = datasets.Sequence(datasets.Value("string"))
    spec["severity"] = datasets.Value("int32")  # 0 for clean
    spec["seed"] = datasets.Value("int64")
    return datasets.Features(spec)


def item_to_row(item: Item, spec: VariantSpec, image_bytes: bytes, image_ext: str) -> dict[str, Any]:
    """One parquet row: the (possibly perturbed) item plus the variant's columns."""
    return {
        "id": item.id,
        "source_id": item.source_id or item.id,
        "dataset": item.dataset,
        "split": item.split,
        "image_id": item.image_id,
        "image": {"bytes": image_bytes, "path": f"{item.image_id}.{image_ext}"},
        "question": item.question,
        "reference_answer": item.reference_answer,
        "category": item.category,
        "label": item.label,
        "choices": list(item.choices),
        "context": item.context.to_json(),
        "variant": spec.name,
        "perturbation": spec.perturbation,
        "modality": spec.modality,
        "severity": 0 if spec.modality == "clean" else spec.severity,
        "seed": spec.seed,
    }


def write_variant(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write ``item_to_row`` rows; each distinct image is stored once per row group
    (see ``runners.generate_writer``)."""
    from robustbench_mllm.runners.generate_writer import write_rows

    write_rows(Path(path), rows)


def row_to_item(row: dict[str, Any]) -> Item:
    image = row["image"]
    return Item(
        id=row["id"],
        dataset=row["dataset"],
        split=row["split"],
        question=row["question"],
        image=image["bytes"] if isinstance(image, dict) else image,
        image_id=row["image_id"],
        source_id=row["source_id"],
        reference_answer=row["reference_answer"],
        category=row["category"],
        label=row["label"],
        choices=tuple(row["choices"] or ()),
        context=JudgeContext.from_json(row["context"]),
    )


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


def _open(path: Path) -> Any:
    import pyarrow.parquet as pq

    # the image bytes come back as a dictionary: each distinct image once per row group
    return pq.ParquetFile(str(path), read_dictionary=["image.bytes"])


def read_variant_rows(path: Path) -> list[dict[str, Any]]:
    """All rows of a variant file as dicts (image as {"bytes", "path"}); rows showing the same
    image share one ``bytes`` object."""
    shared: dict[bytes, bytes] = {}
    with _open(path) as parquet:
        return [row for group in range(parquet.num_row_groups) for row in _group_rows(parquet, group, shared)]


def read_variant(path: Path) -> list[Item]:
    return [row_to_item(row) for row in read_variant_rows(path)]


def iter_variant(path: Path, batch_size: int) -> Iterator[list[Item]]:
    """The items of a variant file in batches of ``batch_size`` (the last may be shorter), reading
    one row group at a time: memory stays near one row group's distinct images."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    pending: list[Item] = []
    with _open(path) as parquet:
        for group in range(parquet.num_row_groups):
            pending.extend(row_to_item(row) for row in _group_rows(parquet, group, {}))
            full = len(pending) - len(pending) % batch_size
            for start in range(0, full, batch_size):
                yield pending[start : start + batch_size]
            pending = pending[full:]
    if pending:
        yield pending
