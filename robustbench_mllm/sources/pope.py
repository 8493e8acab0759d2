"""POPE from local ``coco_pope_{split}.json`` files and a COCO val2014 image folder -> ``pope``.

Each file is JSON lines ``{"question_id", "image", "text", "label": "yes"|"no"}``. An early POPE
commit shipped a 2910-row ``random`` split; a split whose length is not 3000 is rejected unless
``allow_nonstandard`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import read_jsonl, require_field
from robustbench_mllm.records import Item, SourceInfo
from robustbench_mllm.sources.base import register_source
from robustbench_mllm.sources.coco_files import coco_image_id, index_image_folder, resolve_image

SPLITS: tuple[str, ...] = ("random", "popular", "adversarial")
STANDARD_SPLIT_ROWS = 3000
LABELS = ("yes", "no")


def split_file(folder: Path, split: str) -> Path:
    return Path(folder) / f"coco_pope_{split}.json"


@dataclass(frozen=True)
class PopeFiles:
    """POPE (COCO): yes/no object-hallucination probes, 3 splits of 3000 over 500 images."""

    folder: Path
    images: Path
    splits: tuple[str, ...] = SPLITS
    allow_nonstandard: bool = False

    def info(self) -> SourceInfo:
        return SourceInfo(
            dataset="pope",
            task="yes_no",
            license="MIT (POPE); images: COCO (CC-BY-4.0)",
            citation="Li et al., Evaluating Object Hallucination in Large Vision-Language Models, EMNLP 2023",
            homepage="https://github.com/RUCAIBox/POPE",
        )

    def _read_split(self, split: str, index: dict[str, Path]) -> list[Item]:
        path = split_file(self.folder, split)
        if not path.is_file():
            raise MissingResourceError(f"{path}: POPE split file not found")
        items = []
        for number, row in enumerate(read_jsonl(path), start=1):
            where = f"{path}: row {number}"
            qid = str(require_field(row, "question_id", where))
            name = str(require_field(row, "image", where))
            label = str(require_field(row, "label", where)).strip().lower()
            if label not in LABELS:
                raise DataFormatError(f"{where}: field 'label': {label!r} is not 'yes' or 'no'")
            items.append(
                Item(
                    id=f"{split}_{qid}",
                    dataset="pope",
                    split=split,
                    question=str(require_field(row, "text", where)),
                    question_origin=f"{where}: field 'text'",
                    image=resolve_image(index, self.images, name),
                    image_id=coco_image_id(name),
                    source_id=qid,
                    category=split,
                    label=label,
                )
            )
        if len(items) != STANDARD_SPLIT_ROWS and not self.allow_nonstandard:
            raise DataFormatError(
                f"{path}: {len(items)} rows, the standard POPE split has {STANDARD_SPLIT_ROWS} "
                "(an early POPE commit had 2910 in 'random'); get the current files or set "
                "`allow_nonstandard`"
            )
        return items

    def load(self) -> Iterator[Item]:
        index = index_image_folder(self.images)
        for split in self.splits:
            yield from self._read_split(split, index)


register_source("pope")(PopeFiles)
