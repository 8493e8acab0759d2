"""The embedded sample suite: our own LB-COCO-style and POPE-style items about the colour photos
that scikit-image ships in ``skimage/data``.

The questions, answers, captions, boxes and yes/no probes live in ``sample_data/*.json`` (written
for this project); the images are read from the installed scikit-image at run time, so the
default ``robust-mllm generate`` needs no download.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import require_field
from robustbench_mllm.records import Box, Item, JudgeContext, SourceInfo
from robustbench_mllm.sources.base import register_source

POPE_SPLITS: tuple[str, ...] = ("random", "popular", "adversarial")
_LICENSE = "Apache-2.0 (text, this project); images: scikit-image sample data (see its data/README.txt)"
_HOMEPAGE = "https://scikit-image.org/docs/stable/api/skimage.data.html"


def _read_sample_json(name: str) -> tuple[dict[str, Any], str]:
    resource = resources.files("robustbench_mllm.sources").joinpath("sample_data", name)
    return json.loads(resource.read_text(encoding="utf-8")), f"sample_data/{name}"


def skimage_image_path(file_name: str) -> Path:
    """The file of one scikit-image sample photo, inside the installed package."""
    import skimage.data

    path = Path(skimage.data.__file__).parent / file_name
    if not path.is_file():
        raise MissingResourceError(f"{path}: scikit-image sample image missing (reinstall scikit-image)")
    return path


def _image_files() -> dict[str, str]:
    data, _ = _read_sample_json("lbcoco.json")
    return {entry["image_id"]: entry["file"] for entry in data["images"]}


@dataclass(frozen=True)
class SampleLBCOCO:
    """Open-ended conv/detail/complex questions with reference answers, captions and boxes."""

    def info(self) -> SourceInfo:
        return SourceInfo(dataset="sample_lbcoco", task="open_ended", license=_LICENSE, homepage=_HOMEPAGE)

    def load(self) -> Iterator[Item]:
        data, where = _read_sample_json("lbcoco.json")
        for row, entry in enumerate(data["images"]):
            place = f"{where}: image {row}"
            image_id = require_field(entry, "image_id", place)
            context = JudgeContext(
                captions=tuple(require_field(entry, "captions", place)),
                boxes=tuple(Box(b["category"], tuple(b["bbox"])) for b in require_field(entry, "boxes", place)),
            )
            image = skimage_image_path(require_field(entry, "file", place))
            for question in require_field(entry, "questions", place):
                category = require_field(question, "category", place)
                yield Item(
                    id=f"{image_id}_{category}",
                    dataset="sample_lbcoco",
                    split="test",
                    question=require_field(question, "question", place),
                    image=image,
                    image_id=image_id,
                    source_id=f"{image_id}_{category}",
                    reference_answer=require_field(question, "answer", place),
                    category=category,
                    context=context,
                )


@dataclass(frozen=True)
class SamplePOPE:
    """Yes/no object probes, splits random/popular/adversarial, half of them answered yes."""

    def info(self) -> SourceInfo:
        return SourceInfo(dataset="sample_pope", task="yes_no", license=_LICENSE, homepage=_HOMEPAGE)

    def load(self) -> Iterator[Item]:
        data, where = _read_sample_json("pope.json")
        template = data["question_template"]
        files = _image_files()
        for split in POPE_SPLITS:
            number = 0
            for row, entry in enumerate(data["images"]):
                place = f"{where}: image {row}"
                image_id = require_field(entry, "image_id", place)
                if image_id not in files:
                    raise DataFormatError(f"{place}: field 'image_id': {image_id!r} has no file in lbcoco.json")
                present, absent = require_field(entry, "present", place), require_field(entry, "absent", place)
                if split not in absent or len(absent[split]) != len(present):
                    raise DataFormatError(f"{place}: field 'absent.{split}': need {len(present)} objects")
                # Alternate yes/no per image, as POPE does.
                for yes_object, no_object in zip(present, absent[split]):
                    for obj, label in ((yes_object, "yes"), (no_object, "no")):
                        number += 1
                        yield Item(
                            id=f"{split}_{number}",
                            dataset="sample_pope",
                            split=split,
                            question=template.format(object=obj),
                            image=skimage_image_path(files[image_id]),
                            image_id=image_id,
                            source_id=str(number),
                            category=split,
                            label=label,
                        )


register_source("sample_lbcoco")(SampleLBCOCO)
register_source("sample_pope")(SamplePOPE)
