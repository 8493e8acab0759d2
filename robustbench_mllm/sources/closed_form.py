"""Closed-form benchmarks from the Hugging Face Hub (or a local copy in the same schema).

Columns as published:

- ScienceQA (``lmms-lab/ScienceQA``, config ``ScienceQA-IMG``, split ``test``): image, question,
  choices (list), answer (index), hint. The hint becomes a ``Context:`` line as in LLaVA's prompt.
- MMMU (``MMMU/MMMU``, one config per subject, all 30 read from the Hub; split ``validation``:
  the test split has no answers): id, question, options (a Python-literal list as text),
  image_1..image_7, answer (letter), question_type. Single-image multiple-choice questions only.
- MME (``lmms-lab/MME``, split ``test``): question_id (image file), image, question (ends with
  "Please answer yes or no."), answer (Yes/No), category. Two questions per image.
- MMStar (``Lin-Chen/MMStar``, split ``val``): index, image, question (options inside), answer
  (letter), category.

Items are yes/no (label yes/no) or multiple choice (label = option letter); ``evaluate`` picks
the scoring from the labels.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.records import Item, SourceInfo
from robustbench_mllm.sources.base import register_source
from robustbench_mllm.sources.hub import DeclaredInfo, _image_bytes, _text, content_image_id, open_table


@dataclass(frozen=True)
class ImageRow:
    number: int
    where: str  # "<source>: row N", for error messages
    row: dict[str, Any]
    image: bytes

    @property
    def image_id(self) -> str:
        return content_image_id(self.image)


def image_rows(
    id_or_path: str, config: str | None, split: str, image_columns: tuple[str, ...] = ("image",)
) -> Iterator[ImageRow]:
    """The rows whose first image column holds an image (text-only rows are skipped)."""
    for number, row in enumerate(open_table(id_or_path, split, config, image_columns)):
        if row[image_columns[0]] is not None:
            where = f"{id_or_path}: row {number}"
            yield ImageRow(number, where, row, _image_bytes(row[image_columns[0]], where))


def _letter(index: Any, count: int, where: str) -> str:
    if not isinstance(index, int) or not 0 <= index < count:
        raise DataFormatError(f"{where}: field 'answer': option index {index!r} outside 0..{count - 1}")
    return string.ascii_uppercase[index]


def _answer(row: dict[str, Any], where: str, allowed: Sequence[str], normalise: Callable[[str], str]) -> str:
    """The ``answer`` field normalised; one of ``allowed`` (option letters, or yes/no)."""
    answer = normalise(str(row.get("answer") or "").strip())
    if answer not in tuple(allowed):  # a tuple: "AB" is a substring of the letters, not a letter
        raise DataFormatError(f"{where}: field 'answer': {row.get('answer')!r} is not one of {list(allowed)}")
    return answer


@dataclass(frozen=True)
class ScienceQAImg(DeclaredInfo):
    """ScienceQA, image questions of the test split (multiple choice)."""

    INFO = SourceInfo(dataset="scienceqa_img", task="multiple_choice", license="CC BY-NC-SA 4.0",
                      homepage="https://scienceqa.github.io")
    id_or_path: str = "lmms-lab/ScienceQA"
    config: str = "ScienceQA-IMG"
    split: str = "test"

    def load(self) -> Iterator[Item]:
        for r in image_rows(self.id_or_path, self.config, self.split):
            choices = tuple(str(c) for c in r.row["choices"])
            hint = (r.row.get("hint") or "").strip()
            question = _text(r.row, "question", r.where)
            yield Item(
                id=str(r.number), dataset="scienceqa_img", split=self.split,
                question=f"Context: {hint}\n{question}" if hint else question,
                image=r.image, image_id=r.image_id, choices=choices,
                label=_letter(r.row["answer"], len(choices), r.where), category=str(r.row.get("subject") or ""),
            )


# The 30 subject configs of MMMU/MMMU
MMMU_SUBJECTS: tuple[str, ...] = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory",
    "Basic_Medical_Science", "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science", "Design",
    "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics", "Energy_and_Power", "Finance",
    "Geography", "History", "Literature", "Manage", "Marketing", "Materials", "Math",
    "Mechanical_Engineering", "Music", "Pharmacy", "Physics", "Psychology", "Public_Health", "Sociology",
)


def _mmmu_subject(question_id: str, fallback: str) -> str:
    """``validation_Art_Theory_12`` -> ``Art_Theory``."""
    parts = question_id.split("_")
    return "_".join(parts[1:-1]) if len(parts) > 2 else fallback


@dataclass(frozen=True)
class MMMU(DeclaredInfo):
    """MMMU (validation split: the test split has no answers): single-image multiple-choice
    questions of every subject config on the Hub, or of whatever a local copy holds."""

    INFO = SourceInfo(dataset="mmmu", task="multiple_choice", license="Apache-2.0",
                      homepage="https://mmmu-benchmark.github.io")
    id_or_path: str = "MMMU/MMMU"
    subjects: tuple[str, ...] = MMMU_SUBJECTS  # Hub configs to read
    split: str = "validation"

    def load(self) -> Iterator[Item]:
        extra_images = tuple(f"image_{k}" for k in range(2, 8))
        configs: tuple[str | None, ...] = (None,) if Path(self.id_or_path).is_dir() else self.subjects
        for config in configs:
            for r in image_rows(self.id_or_path, config, self.split, ("image_1",)):
                if r.row.get("question_type") != "multiple-choice" or any(r.row.get(c) for c in extra_images):
                    continue  # open questions and multi-image questions need another protocol
                try:
                    options = ast.literal_eval(_text(r.row, "options", r.where))
                except (ValueError, SyntaxError):
                    raise DataFormatError(f"{r.where}: field 'options': not a list literal") from None
                question_id = str(r.row.get("id") or f"{config}_{r.number}")
                yield Item(
                    id=question_id, dataset="mmmu", split=self.split,
                    question=_text(r.row, "question", r.where).replace("<image 1>", "the image").strip(),
                    image=r.image, image_id=r.image_id, choices=tuple(str(o) for o in options),
                    label=_answer(r.row, r.where, string.ascii_uppercase[: len(options)], str.upper),
                    category=_mmmu_subject(question_id, config or ""),
                )


@dataclass(frozen=True)
class MME(DeclaredInfo):
    """MME (yes/no; the question already asks to answer yes or no)."""

    INFO = SourceInfo(dataset="mme", task="yes_no", license="research use (see the data set card)",
                      homepage="https://github.com/BradyFU/Awesome-Multimodal-Large-Language-Models")
    id_or_path: str = "lmms-lab/MME"
    split: str = "test"

    def load(self) -> Iterator[Item]:
        seen: dict[str, int] = {}
        for r in image_rows(self.id_or_path, None, self.split):
            category = str(r.row.get("category") or "")
            key = f"{category}/{r.row.get('question_id') or r.image_id}"
            seen[key] = seen.get(key, -1) + 1  # two questions per image: number them
            yield Item(
                id=f"{key}#{seen[key]}", dataset="mme", split=category or self.split,
                question=_text(r.row, "question", r.where), image=r.image, image_id=r.image_id,
                label=_answer(r.row, r.where, ("yes", "no"), str.lower), category=category,
            )


@dataclass(frozen=True)
class MMStar(DeclaredInfo):
    """MMStar (multiple choice; the options are written inside the question)."""

    INFO = SourceInfo(dataset="mmstar", task="multiple_choice", license="see the data set card",
                      homepage="https://mmstar-benchmark.github.io")
    id_or_path: str = "Lin-Chen/MMStar"
    split: str = "val"

    def load(self) -> Iterator[Item]:
        for r in image_rows(self.id_or_path, None, self.split):
            yield Item(
                id=str(r.row.get("index", r.number)), dataset="mmstar", split=self.split,
                question=_text(r.row, "question", r.where), image=r.image, image_id=r.image_id,
                label=_answer(r.row, r.where, string.ascii_uppercase, str.upper),
                category=str(r.row.get("category") or ""),
            )


register_source("scienceqa_img")(ScienceQAImg)
register_source("mmmu")(MMMU)
register_source("mme")(MME)
register_source("mmstar")(MMStar)
