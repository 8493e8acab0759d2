"""LB-COCO from the LLaVA qa90 files and a local COCO val2014 image folder -> data set ``lbcoco``.

Files (as in LLaVA's ``playground/data/coco2014_val_qa_eval``):
- questions ``{"question_id", "image", "text", "category"}`` (``qa90_questions.jsonl``)
- reference answers ``{"question_id", "text", "category"}`` (``qa90_gpt4_answer.jsonl``)
- judge context, one line per image ``{"image", "captions", "instances": [{"category", "bbox"}]}``
  (``caps_boxes_coco2014_val_80.jsonl``)
Image names may follow either COCO naming scheme (see ``coco_files``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import read_jsonl, require_field
from robustbench_mllm.records import Box, Item, JudgeContext, SourceInfo
from robustbench_mllm.sources.base import register_source
from robustbench_mllm.sources.coco_files import coco_image_id, index_image_folder, resolve_image

CATEGORIES = ("conv", "detail", "complex")
_FILE_PATTERNS = {"questions": "*question*.jsonl", "answers": "*answer*.jsonl", "context": "caps*.jsonl"}


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, row in enumerate(read_jsonl(path), start=1):
        yield f"{path}: row {number}", row


def _context_by_image(path: Path) -> dict[str, JudgeContext]:
    contexts: dict[str, JudgeContext] = {}
    for where, row in _rows(path):
        name = row.get("image") or require_field(row, "id", where)
        boxes = []
        for instance in require_field(row, "instances", where):
            bbox = tuple(float(v) for v in require_field(instance, "bbox", where))
            if len(bbox) != 4:
                raise DataFormatError(f"{where}: field 'bbox': expected 4 numbers, got {len(bbox)}")
            boxes.append(Box(str(require_field(instance, "category", where)), bbox))  # type: ignore[arg-type]
        captions = tuple(str(c) for c in require_field(row, "captions", where))
        contexts[coco_image_id(str(name))] = JudgeContext(captions=captions, boxes=tuple(boxes))
    return contexts


@dataclass(frozen=True)
class LlavaQA90:
    """LLaVA-Bench-COCO (qa90): 90 open-ended questions over 30 COCO val2014 images."""

    questions: Path
    answers: Path
    context: Path
    images: Path

    @classmethod
    def from_folder(cls, folder: Path, images: Path) -> LlavaQA90:
        """Find the three files in ``folder`` by their upstream names."""
        found: dict[str, Path] = {}
        for role, pattern in _FILE_PATTERNS.items():
            matches = sorted(Path(folder).glob(pattern))
            if len(matches) != 1:
                raise MissingResourceError(
                    f"{folder}: expected exactly one {role} file matching {pattern!r}, found {len(matches)}"
                )
            found[role] = matches[0]
        return cls(images=Path(images), **found)

    def info(self) -> SourceInfo:
        return SourceInfo(
            dataset="lbcoco",
            task="open_ended",
            license="CC-BY-4.0 (COCO annotations); questions/answers: LLaVA (Apache-2.0)",
            citation="Liu et al., Visual Instruction Tuning, NeurIPS 2023",
            homepage="https://github.com/haotian-liu/LLaVA",
        )

    def load(self) -> Iterator[Item]:
        answers: dict[str, str] = {}
        for where, row in _rows(self.answers):
            answers[str(require_field(row, "question_id", where))] = str(require_field(row, "text", where))
        contexts = _context_by_image(self.context)
        index = index_image_folder(self.images)
        for where, row in _rows(self.questions):
            qid = str(require_field(row, "question_id", where))
            name = str(require_field(row, "image", where))
            category = str(require_field(row, "category", where))
            if category not in CATEGORIES:
                raise DataFormatError(f"{where}: field 'category': {category!r} is not one of {CATEGORIES}")
            if qid not in answers:
                raise DataFormatError(f"{where}: field 'question_id': {qid} has no answer in {self.answers}")
            image_id = coco_image_id(name)
            if image_id not in contexts:
                raise DataFormatError(f"{where}: field 'image': {name!r} has no context in {self.context}")
            yield Item(
                id=qid,
                dataset="lbcoco",
                split="test",
                question=str(require_field(row, "text", where)),
                question_origin=f"{where}: field 'text'",
                image=resolve_image(index, self.images, name),
                image_id=image_id,
                source_id=qid,
                reference_answer=answers[qid],
                category=category,
                context=contexts[image_id],
            )


register_source("llava_qa90")(LlavaQA90)
