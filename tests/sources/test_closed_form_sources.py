"""Closed-form loaders on local copies written in each Hub data set's published schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.prompts import prompt_for
from robustbench_mllm.protocols import CANONICAL
from robustbench_mllm.registry import load_registry
from robustbench_mllm.runners.evaluate.scoring import task_of
from tests.fixtures.hub_copies import png, write_copy


def load(name: str, **kwargs: Any) -> list[Any]:
    return list(load_registry("sources").get(name)(**kwargs).load())


def test_scienceqa_img(tmp_path: Path) -> None:
    path = write_copy(tmp_path / "sqa", {
        "image": [{"bytes": png(1), "path": None}, {"bytes": png(2), "path": None}],
        "question": ["Which is a mammal?", "Which is hotter?"],
        "choices": [["frog", "whale"], ["ice", "tea", "lava"]],
        "answer": [1, 2], "hint": ["", "Think about temperature."], "subject": ["natural science"] * 2,
    }, as_parquet=False)
    items = load("scienceqa_img", id_or_path=path)
    assert [i.label for i in items] == ["B", "C"]
    assert items[1].question == "Context: Think about temperature.\nWhich is hotter?"
    assert task_of(items, "sqa") == "multiple_choice"
    assert prompt_for(items[0], "multiple_choice", CANONICAL).splitlines()[1:3] == ["A. frog", "B. whale"]


def test_mmmu_keeps_single_image_multiple_choice(tmp_path: Path) -> None:
    path = write_copy(tmp_path / "mmmu", {
        "id": ["validation_Art_1", "validation_Art_2", "validation_Art_3"],
        "question": ["What style is <image 1>?", "Describe <image 1>.", "Compare <image 1> and <image 2>."],
        "options": ["['Baroque', 'Cubism']", "[]", "['x', 'y']"],
        "image_1": [{"bytes": png(i), "path": None} for i in range(3)],
        "image_2": [None, None, {"bytes": png(9), "path": None}],
        "answer": ["B", "open answer", "A"],
        "question_type": ["multiple-choice", "open", "multiple-choice"],
    }, image_columns=("image_1", "image_2"))
    items = load("mmmu", id_or_path=path)
    assert [(i.id, i.label, i.choices) for i in items] == [("validation_Art_1", "B", ("Baroque", "Cubism"))]
    assert items[0].question == "What style is the image?" and items[0].category == "Art"


def test_mme_is_yes_no_and_numbers_questions_per_image(tmp_path: Path) -> None:
    path = write_copy(tmp_path / "mme", {
        "question_id": ["a.jpg", "a.jpg"], "image": [{"bytes": png(3), "path": None}] * 2,
        "question": ["Is there a dog? Please answer yes or no.", "Is there a cat? Please answer yes or no."],
        "answer": ["Yes", "No"], "category": ["existence"] * 2,
    })
    items = load("mme", id_or_path=path)
    assert [(i.id, i.label, i.split) for i in items] == [("existence/a.jpg#0", "yes", "existence"),
                                                         ("existence/a.jpg#1", "no", "existence")]
    assert task_of(items, "mme") == "yes_no" and prompt_for(items[0], "yes_no", CANONICAL) == items[0].question


def test_mmstar_and_bad_answers(tmp_path: Path) -> None:
    rows = {"index": [0], "image": [{"bytes": png(4), "path": None}],
            "question": ["Which? Options: A: cat, B: dog"], "answer": ["B"], "category": ["coarse perception"]}
    items = load("mmstar", id_or_path=write_copy(tmp_path / "star", rows))
    assert (items[0].label, items[0].choices) == ("B", ())
    for number, bad in enumerate(("cat", "AB")):
        rows["answer"] = [bad]
        with pytest.raises(DataFormatError, match="row 0: field 'answer'"):
            load("mmstar", id_or_path=write_copy(tmp_path / f"bad{number}", rows))
