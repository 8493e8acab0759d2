"""Hub sources, loaded from local copies in the lmms-lab schema through the same code path."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.sources.hub import HubLBCOCO, HubPOPE


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 6, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _pope_rows(answers: tuple[str, ...]) -> dict[str, list]:
    n = len(answers)
    return {
        "id": [str(i) for i in range(n)],
        "question_id": [str(i + 1) for i in range(n)],
        "question": ["Is there a cat in the image?"] * n,
        "answer": list(answers),
        "image_source": [f"COCO_val2014_00000000000{i % 2}" for i in range(n)],
        "image": [{"bytes": _png(10 * (i % 2)), "path": None} for i in range(n)],
        "category": ["random", "popular", "adversarial", "random"][:n],
    }


def test_pope_from_save_to_disk_copy(tmp_path: Path) -> None:
    import datasets

    rows = _pope_rows(("yes", "no", "yes", "No"))
    table = datasets.Dataset.from_dict(rows, features=datasets.Features({
        **{k: datasets.Value("string") for k in rows if k != "image"}, "image": datasets.Image()}))
    datasets.DatasetDict({"test": table}).save_to_disk(str(tmp_path / "pope"))
    items = list(HubPOPE(str(tmp_path / "pope")).load())
    assert [i.label for i in items] == ["yes", "no", "yes", "no"]
    assert [i.split for i in items] == ["random", "popular", "adversarial", "random"]
    assert items[0].image_id == items[2].image_id == "000000000000" and items[0].id == "random_1"
    assert Image.open(io.BytesIO(items[1].image)).size == (6, 6)  # type: ignore[arg-type]


def test_lbcoco_from_parquet_folder_and_bad_row(tmp_path: Path) -> None:
    import datasets

    features = datasets.Features({
        "question_id": datasets.Value("string"), "question": datasets.Value("string"),
        "image": datasets.Image(), "gpt_answer": datasets.Value("string"),
        "caption": datasets.Value("string"), "category": datasets.Value("string"),
    })
    rows = {"question_id": ["0", "1"], "question": ["What is it?", "Describe it."],
            "image": [{"bytes": _png(1), "path": None}, {"bytes": _png(1), "path": None}],
            "gpt_answer": ["A dog.", "A dog on grass."], "caption": ["a dog\nthe dog", "a dog"],
            "category": ["conv", "detail"]}
    folder = tmp_path / "lb" / "data"
    folder.mkdir(parents=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(folder / "train-0.parquet"))
    items = list(HubLBCOCO(str(tmp_path / "lb")).load())
    assert [i.id for i in items] == ["0", "1"] and items[0].context.captions == ("a dog", "the dog")
    assert items[0].image_id == items[1].image_id  # same bytes, same content-hash id
    assert items[1].reference_answer == "A dog on grass."

    rows["gpt_answer"][1] = ""
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(folder / "train-0.parquet"))
    with pytest.raises(DataFormatError, match=r"row 1: field 'gpt_answer'"):
        list(HubLBCOCO(str(tmp_path / "lb")).load())


def test_a_missing_local_source_offline_says_to_pass_a_local_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative name that is no folder is tried as a hub id (offline: conftest)
    with pytest.raises(FileNotFoundError, match=r"no-such-copy: no such local folder.*as `source`"):
        list(HubPOPE("no-such-copy").load())
