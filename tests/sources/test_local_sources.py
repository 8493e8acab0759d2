"""Local LLaVA qa90 and POPE files with a COCO image folder (both naming schemes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.sources.catalog import suite_sources
from robustbench_mllm.sources.coco_files import coco_image_id
from robustbench_mllm.sources.llava_qa90 import LlavaQA90
from robustbench_mllm.sources.pope import PopeFiles

IDS = ("000000441147", "000000353536")


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _images(folder: Path, prefixed: bool) -> Path:
    folder.mkdir()
    for number, image_id in enumerate(IDS):
        name = f"COCO_val2014_{image_id}.jpg" if prefixed else f"{image_id}.jpg"
        Image.fromarray(np.full((8, 8, 3), 40 * number, np.uint8)).save(folder / name)
    return folder


def _qa90(folder: Path, prefixed_names: bool) -> Path:
    folder.mkdir()
    name = (lambda i: f"COCO_val2014_{i}.jpg") if prefixed_names else (lambda i: f"{i}.jpg")
    questions, answers = [], []
    for qid, (image_id, category) in enumerate((i, c) for i in IDS for c in ("conv", "detail", "complex")):
        questions.append({"question_id": qid, "image": name(image_id), "text": f"q{qid}?", "category": category})
        answers.append({"question_id": qid, "text": f"answer {qid}", "category": category})
    _jsonl(folder / "qa90_questions.jsonl", questions)
    _jsonl(folder / "qa90_gpt4_answer.jsonl", answers)
    _jsonl(folder / "caps_boxes_coco2014_val_80.jsonl", [
        {"id": i, "image": name(i), "captions": [f"c{k}" for k in range(5)],
         "instances": [{"category": "dog", "bbox": [0.1, 0.2, 0.5, 0.6]}]} for i in IDS
    ])
    return folder


@pytest.mark.parametrize(("prefixed_files", "prefixed_images"), [(False, True), (True, False), (False, False)])
def test_qa90_matches_either_naming_scheme(tmp_path: Path, prefixed_files: bool, prefixed_images: bool) -> None:
    source = LlavaQA90.from_folder(_qa90(tmp_path / "qa", prefixed_files), _images(tmp_path / "img", prefixed_images))
    items = list(source.load())
    assert len(items) == 6
    assert {coco_image_id(item.image.name) for item in items} == set(IDS)  # type: ignore[union-attr]
    assert all(item.image.is_file() for item in items)  # type: ignore[union-attr]
    assert items[0].reference_answer == "answer 0" and items[0].context.boxes[0].category == "dog"
    assert [i.category for i in items[:3]] == ["conv", "detail", "complex"]


def test_qa90_bad_row_names_file_row_and_field(tmp_path: Path) -> None:
    folder = _qa90(tmp_path / "qa", False)
    rows = [json.loads(line) for line in (folder / "qa90_questions.jsonl").read_text().splitlines()]
    del rows[2]["text"]
    _jsonl(folder / "qa90_questions.jsonl", rows)
    with pytest.raises(DataFormatError, match=r"qa90_questions.jsonl: row 3: missing field 'text'"):
        list(LlavaQA90.from_folder(folder, _images(tmp_path / "img", True)).load())


def _pope_split(folder: Path, split: str, rows: int) -> None:
    folder.mkdir(exist_ok=True)
    _jsonl(folder / f"coco_pope_{split}.json", [
        {"question_id": q + 1, "image": f"COCO_val2014_{IDS[q % 2]}.jpg",
         "text": "Is there a dog in the image?", "label": "yes" if q % 2 == 0 else "no"}
        for q in range(rows)
    ])


def test_pope_requires_3000_rows_per_split(tmp_path: Path) -> None:
    images = _images(tmp_path / "img", prefixed=False)
    _pope_split(tmp_path / "pope", "random", 3000)
    items = list(PopeFiles(tmp_path / "pope", images, splits=("random",)).load())
    assert len(items) == 3000 and items[0].id == "random_1" and items[1].label == "no"
    assert all(item.image.is_file() for item in items[:2])  # type: ignore[union-attr]

    _pope_split(tmp_path / "pope", "random", 2910)
    with pytest.raises(DataFormatError, match="2910 rows.*3000.*`allow_nonstandard`"):
        list(PopeFiles(tmp_path / "pope", images, splits=("random",)).load())
    lenient = PopeFiles(tmp_path / "pope", images, splits=("random",), allow_nonstandard=True)
    assert len(list(lenient.load())) == 2910


def test_pope_bad_label_names_row_and_field(tmp_path: Path) -> None:
    folder = tmp_path / "pope"
    folder.mkdir()
    _jsonl(folder / "coco_pope_random.json", [{"question_id": 1, "image": "x.jpg", "text": "?", "label": "maybe"}])
    with pytest.raises(DataFormatError, match=r"coco_pope_random.json: row 1: field 'label'"):
        list(PopeFiles(folder, _images(tmp_path / "img", True), splits=("random",)).load())


def test_suites_pick_local_sources(tmp_path: Path) -> None:
    images = _images(tmp_path / "img", prefixed=True)
    qa = _qa90(tmp_path / "qa", False)
    (lbcoco,) = suite_sources("lbcoco", str(qa), str(images))
    assert isinstance(lbcoco, LlavaQA90) and lbcoco.info().dataset == "lbcoco"
    (pope,) = suite_sources("pope", str(tmp_path), str(images), allow_nonstandard=True)
    assert isinstance(pope, PopeFiles) and pope.allow_nonstandard
    with pytest.raises(ValueError, match="takes no `source`"):
        suite_sources("sample", str(qa))


def test_local_files_without_image_folder_are_refused(tmp_path: Path) -> None:
    qa = _qa90(tmp_path / "qa", False)
    with pytest.raises(ValueError, match="as `images`"):
        suite_sources("lbcoco", str(qa))
    _pope_split(tmp_path / "pope", "random", 3)
    with pytest.raises(ValueError, match="as `images`"):
        suite_sources("pope", str(tmp_path / "pope"))
