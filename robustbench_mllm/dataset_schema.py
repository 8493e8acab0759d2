"""The columns of a generated variant (``<dataset>/<variant>/data.parquet``) and their round trip.

Written with ``datasets`` features (the image column is a ``datasets.Image``), so a variant loads
back with ``datasets.load_dataset("parquet", data_files=...)``; read here with pyarrow directly,
which needs no cache folder.
"""

from __future__ import annotations

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


def write_variant(path: Path, rows: list[dict[str, Any]]) -> None:
    import datasets

    datasets.Dataset.from_list(rows, features=features()).to_parquet(str(path))


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


def read_variant_rows(path: Path) -> list[dict[str, Any]]:
    """All rows of a variant file as dicts (image as {"bytes", "path"})."""
    import pyarrow.parquet as pq

    return pq.read_table(str(path)).to_pylist()


def read_variant(path: Path) -> list[Item]:
    return [row_to_item(row) for row in read_variant_rows(path)]
