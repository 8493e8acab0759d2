"""LB-COCO and POPE from the Hugging Face Hub (``lmms-lab/llava-bench-coco``, ``lmms-lab/POPE``)
or from a local copy in the same schema (a ``save_to_disk`` folder or a folder of parquet files).

Columns as published: llava-bench-coco has question, image, gpt_answer, caption, category
(question_id and image_id when present); POPE has question_id, question, answer, image, category
(= split) and image_source. Images stay encoded bytes; an image without an id column is named by
its content hash, so rows sharing an image share one corrupted copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.records import Item, JudgeContext, SourceInfo
from robustbench_mllm.sources.base import register_source
from robustbench_mllm.sources.coco_files import coco_image_id

LBCOCO_HUB_ID = "lmms-lab/llava-bench-coco"
POPE_HUB_ID = "lmms-lab/POPE"


def open_table(
    id_or_path: str, split: str, config: str | None = None, image_columns: tuple[str, ...] = ("image",)
) -> Any:
    """A ``datasets.Dataset`` with ``image_columns`` left encoded: from a folder of parquet files, a
    ``save_to_disk`` folder, or the Hub (``config`` and ``split`` there)."""
    import datasets

    path = Path(id_or_path)
    if path.is_dir() and any(path.rglob("*.parquet")):
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        table = datasets.load_dataset("parquet", data_files=files, split="train")
    elif path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except FileNotFoundError:
            raise MissingResourceError(f"{path}: no parquet files and no save_to_disk data set here") from None
        table = loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    else:
        try:
            table = datasets.load_dataset(id_or_path, config, split=split)
        except ConnectionError as exc:  # offline, or a mistyped local path taken for a hub id
            raise MissingResourceError(
                f"{id_or_path}: no such local folder, and the Hub copy could not be loaded ({exc}); give "
                "a local copy (a folder of parquet files or a save_to_disk folder) as `source`") from None
    require_columns(table, image_columns, id_or_path)
    for column in image_columns:
        table = table.cast_column(column, datasets.Image(decode=False))
    return table


def require_columns(table: Any, columns: tuple[str, ...], where: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataFormatError(f"{where}: missing column(s) {missing}; has {table.column_names}")


def _image_bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, dict) or not (value.get("bytes") or value.get("path")):
        raise DataFormatError(f"{where}: field 'image': no image bytes or path")
    if value.get("bytes"):
        return bytes(value["bytes"])
    return Path(value["path"]).read_bytes()


def content_image_id(data: bytes) -> str:
    """An image id for sources that name none: equal images share it, so they are corrupted once."""
    return hashlib.sha256(data).hexdigest()[:16]


def _image_id(row: dict[str, Any], data: bytes, id_column: str) -> str:
    named = row.get(id_column)
    if named:
        return coco_image_id(str(named))
    return content_image_id(data)


def _text(row: dict[str, Any], column: str, where: str) -> str:
    value = row.get(column)
    if not isinstance(value, str) or not value.strip():
        raise DataFormatError(f"{where}: field {column!r}: expected non-empty text, got {value!r}")
    return value


def question_text(row: dict[str, Any], column: str, where: str) -> str:
    """The question, which may be empty here: ``generate`` refuses an empty one naming
    ``question_origin``, or with ``on_error`` skip records it in failures.jsonl."""
    value = row.get(column)
    if value is not None and not isinstance(value, str):
        raise DataFormatError(f"{where}: field {column!r}: expected text, got {value!r}")
    return value or ""


def _rows_with_images(
    id_or_path: str, split: str, columns: tuple[str, ...], id_column: str
) -> Iterator[tuple[str, dict[str, Any], bytes, str]]:
    """(where, row, image bytes, image id) per row; rows sharing an image share one bytes object
    (POPE: 9000 rows over 500 images)."""
    table = open_table(id_or_path, split)
    require_columns(table, columns, id_or_path)
    shared: dict[str, bytes] = {}
    for number, row in enumerate(table):
        where = f"{id_or_path}: row {number}"
        data = _image_bytes(row["image"], where)
        image_id = _image_id(row, data, id_column)
        yield where, row, shared.setdefault(image_id, data), image_id


class DeclaredInfo:
    """``info()`` is the class's ``INFO``: the metadata of a Hub data set does not vary per copy."""

    INFO: ClassVar[SourceInfo]

    def info(self) -> SourceInfo:
        return self.INFO


@dataclass(frozen=True)
class HubLBCOCO(DeclaredInfo):
    """LLaVA-Bench-COCO in the lmms-lab schema (Hub id or local copy)."""

    INFO = SourceInfo(dataset="lbcoco", task="open_ended", license="see the data set card",
                      homepage=f"https://huggingface.co/datasets/{LBCOCO_HUB_ID}")
    id_or_path: str = LBCOCO_HUB_ID
    split: str = "train"

    def load(self) -> Iterator[Item]:
        columns = ("question", "gpt_answer", "caption", "category")
        rows = _rows_with_images(self.id_or_path, self.split, columns, "image_id")
        for number, (where, row, data, image_id) in enumerate(rows):
            qid = str(row.get("question_id") if row.get("question_id") is not None else number)
            caption = row.get("caption") or ""
            yield Item(
                id=qid, dataset="lbcoco", split="test",
                question=question_text(row, "question", where), question_origin=f"{where}: field 'question'",
                image=data,
                image_id=image_id, source_id=qid,
                reference_answer=_text(row, "gpt_answer", where),
                category=_text(row, "category", where),
                context=JudgeContext(captions=tuple(c for c in str(caption).split("\n") if c.strip())),
            )


@dataclass(frozen=True)
class HubPOPE(DeclaredInfo):
    """POPE in the lmms-lab schema (Hub id or local copy); ``category`` holds the split."""

    INFO = SourceInfo(dataset="pope", task="yes_no", license="MIT (POPE); images: COCO",
                      homepage=f"https://huggingface.co/datasets/{POPE_HUB_ID}")
    id_or_path: str = POPE_HUB_ID
    split: str = "test"

    def load(self) -> Iterator[Item]:
        columns = ("question_id", "question", "answer", "category")
        for where, row, data, image_id in _rows_with_images(self.id_or_path, self.split, columns, "image_source"):
            label = _text(row, "answer", where).strip().lower()
            if label not in ("yes", "no"):
                raise DataFormatError(f"{where}: field 'answer': {label!r} is not 'yes' or 'no'")
            split = _text(row, "category", where)
            qid = str(row["question_id"])
            yield Item(
                id=f"{split}_{qid}", dataset="pope", split=split,
                question=question_text(row, "question", where), question_origin=f"{where}: field 'question'",
                image=data,
                image_id=image_id, source_id=qid,
                category=split, label=label,
            )


register_source("hub_lbcoco")(HubLBCOCO)
register_source("hub_pope")(HubPOPE)
