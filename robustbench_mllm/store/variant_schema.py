"""The columns of a generated variant (``<dataset>/<variant>/data.parquet``): the ``datasets``
features it is written with, and the item <-> row mapping. ``store.variant_writer`` writes the
rows, ``store.variants`` reads them back.

``position`` is the row's place in the data set's order: the writer stores rows grouped by image
(so each image is stored once) and sets it; ``store.variants`` returns rows sorted by it. Other
readers (``datasets.load_dataset`` of a published variant) see the stored, image-grouped order
and can sort by ``position``."""

from __future__ import annotations

from typing import Any

from robustbench_mllm.records import Item, JudgeContext, VariantSpec

POSITION = "position"
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
    spec[POSITION] = datasets.Value("int64")
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
