"""Closed-form benchmarks from the Hugging Face Hub (or a local copy in the same schema).

Columns as published:

- ScienceQA (``lmms-lab/ScienceQA``, config ``ScienceQA-IMG``, split ``test``): image, question,
  choices (list), answer (index), hint. The hint becomes a ``Context:`` line as in LLaVA's prompt.
- MMMU (``MMMU/MMMU``, one config per subject, split ``validation``: the test split has no
  answers): id, question, options (a Python-literal list as text), image_1..image_7, answer
  (letter), question_type. Single-image multiple-choice questions only; the rest are counted.
- MME (``lmms-lab/MME``, split ``test``): question_id (image file), image, question (ends with
  "Please answer yes or no."), answer (Yes/No), category. Two questions per image.
- MMStar (``Lin-Chen/MMStar``, split ``val``): index, image, question (options inside), answer
  (letter), category.

Items are yes/no (label yes/no) or multiple choice (label = option letter); ``evaluate`` picks
the scoring from the labels.
"""

from __future__ import annotations

import ast
import hashlib
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import DataFormatError
from robustbench_mllm.records import Item
from robustbench_mllm.sources.base import SourceInfo, register_source
from robustbench_mllm.sources.hub import _image_bytes, _text


def open_table(id_or_path: str, config: str | None, split: str, image_columns: tuple[str, ...]) -> Any:
    """A ``datasets.Dataset`` (images left encoded): a ``save_to_disk`` folder, a folder of parquet
    files, or a Hub id with its config."""
    import datasets

    path = Path(id_or_path)
    if path.is_dir() and any(path.rglob("*.parquet")):
        files = sorted(str(p) for p in path.rglob("*.parquet"))
        table = datasets.load_dataset("parquet", data_files=files, split="train")
    elif path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        table = loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    else:
        table = datasets.load_dataset(id_or_path, config, split=split)
    for column in image_columns:
        if column not in table.column_names:
            raise DataFormatError(f"{id_or_path}: missing column {column!r}; has {table.column_names}")
        table = table.cast_column(column, datasets.Image(decode=False))
    return table


def numbered_rows(
    id_or_path: str, config: str | None, split: str, image_columns: tuple[str, ...] = ("image",)
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(row number, "where" for error messages, row) for every row of the table."""
    for number, row in enumerate(open_table(id_or_path, config, split, image_columns)):
        yield number, f"{id_or_path}: row {number}", row


def _image_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _letter(index: Any, count: int, where: str) -> str:
    if not isinstance(index, int) or not 0 <= index < count:
        raise DataFormatError(f"{where}: field 'answer': option index {index!r} outside 0..{count - 1}")
    return string.ascii_uppercase[index]


@dataclass(frozen=True)
class ScienceQAImg:
    """ScienceQA, image questions of the test split (multiple choice)."""

    id_or_path: str = "lmms-lab/ScienceQA"
    config: str = "ScienceQA-IMG"
    split: str = "test"

    def info(self) -> SourceInfo:
        return SourceInfo(dataset="scienceqa_img", task="multiple_choice", license="CC BY-NC-SA 4.0",
                          homepage="https://scienceqa.github.io")

    def load(self) -> Iterator[Item]:
        for number, where, row in numbered_rows(self.id_or_path, self.config, self.split):
            if row["image"] is None:
                continue  # a text-only question (not in the IMG config, but local copies may hold them)
            data = _image_bytes(row["image"], where)
            choices = tuple(str(c) for c in row["choices"])
            hint = (row.get("hint") or "").strip()
            question = _text(row, "question", where)
            yield Item(
                id=str(number), dataset="scienceqa_img", split=self.split,
                question=f"Context: {hint}\n{question}" if hint else question,
                image=data, image_id=_image_id(data), choices=choices,
                label=_letter(row["answer"], len(choices), where), category=str(row.get("subject") or ""),
            )


@dataclass(frozen=True)
class MMMU:
    """MMMU, one subject config (validation split): single-image multiple-choice questions."""

    config: str = "Art"
    id_or_path: str = "MMMU/MMMU"
    split: str = "validation"

    def info(self) -> SourceInfo:
        return SourceInfo(dataset="mmmu", task="multiple_choice", license="Apache-2.0",
                          homepage="https://mmmu-benchmark.github.io", extra={"subject": self.config})

    def load(self) -> Iterator[Item]:
        extra_images = tuple(f"image_{k}" for k in range(2, 8))
        for number, where, row in numbered_rows(self.id_or_path, self.config, self.split, ("image_1",)):
            if row.get("question_type") != "multiple-choice" or any(row.get(c) for c in extra_images):
                continue  # open questions and multi-image questions need another protocol
            try:
                options = ast.literal_eval(_text(row, "options", where))
            except (ValueError, SyntaxError):
                raise DataFormatError(f"{where}: field 'options': not a list literal") from None
            data = _image_bytes(row["image_1"], where)
            answer = str(row.get("answer") or "").strip()
            if answer not in string.ascii_uppercase[: len(options)]:
                raise DataFormatError(f"{where}: field 'answer': {answer!r} is not an option letter")
            yield Item(
                id=str(row.get("id") or number), dataset="mmmu", split=self.split,
                question=_text(row, "question", where).replace("<image 1>", "the image").strip(),
                image=data, image_id=_image_id(data), choices=tuple(str(o) for o in options),
                label=answer, category=self.config,
            )


@dataclass(frozen=True)
class MME:
    """MME (yes/no; the question already asks to answer yes or no)."""

    id_or_path: str = "lmms-lab/MME"
    split: str = "test"

    def info(self) -> SourceInfo:
        return SourceInfo(dataset="mme", task="yes_no", license="research use (see the data set card)",
                          homepage="https://github.com/BradyFU/Awesome-Multimodal-Large-Language-Models")

    def load(self) -> Iterator[Item]:
        seen: dict[str, int] = {}
        for _, where, row in numbered_rows(self.id_or_path, None, self.split):
            label = _text(row, "answer", where).strip().lower()
            if label not in ("yes", "no"):
                raise DataFormatError(f"{where}: field 'answer': expected Yes or No, got {row['answer']!r}")
            data = _image_bytes(row["image"], where)
            category = str(row.get("category") or "")
            key = f"{category}/{row.get('question_id') or _image_id(data)}"
            seen[key] = seen.get(key, -1) + 1  # two questions per image: number them
            yield Item(
                id=f"{key}#{seen[key]}", dataset="mme", split=category or self.split,
                question=_text(row, "question", where), image=data, image_id=_image_id(data),
                label=label, category=category,
            )


@dataclass(frozen=True)
class MMStar:
    """MMStar (multiple choice; the options are written inside the question)."""

    id_or_path: str = "Lin-Chen/MMStar"
    split: str = "val"

    def info(self) -> SourceInfo:
        return SourceInfo(dataset="mmstar", task="multiple_choice", license="see the data set card",
                          homepage="https://mmstar-benchmark.github.io")

    def load(self) -> Iterator[Item]:
        for number, where, row in numbered_rows(self.id_or_path, None, self.split):
            answer = _text(row, "answer", where).strip().upper()
            if len(answer) != 1 or answer not in string.ascii_uppercase:
                raise DataFormatError(f"{where}: field 'answer': {row['answer']!r} is not an option letter")
            data = _image_bytes(row["image"], where)
            yield Item(
                id=str(row.get("index", number)), dataset="mmstar", split=self.split,
                question=_text(row, "question", where), image=data, image_id=_image_id(data),
                label=answer, category=str(row.get("category") or ""),
            )


register_source("scienceqa_img")(ScienceQAImg)
register_source("mmmu")(MMMU)
register_source("mme")(MME)
register_source("mmstar")(MMStar)
