"""Bad question text in a local questions file: an error naming file, row and field, or with
``on_error`` skip a line in failures.jsonl and the item left out of every variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_jsonl
from robustbench_mllm.runners.generate.plan import GenerateConfig
from robustbench_mllm.runners.generate.run import run_generate
from robustbench_mllm.store.variants import load_items
from tests.sources.test_local_sources import _images, _qa90


def _suite(tmp_path: Path, question: str) -> GenerateConfig:
    folder = _qa90(tmp_path / "qa", prefixed_names=False)
    path = folder / "qa90_questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[1]["text"] = question
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    images = _images(tmp_path / "img", prefixed=True)
    return GenerateConfig(suite="lbcoco", source=str(folder), images=str(images), perturbations="char_typo")


@pytest.mark.parametrize("question", ["", "  \t\n "])
def test_an_empty_question_is_an_error_naming_file_row_and_field(tmp_path: Path, question: str) -> None:
    with pytest.raises(DataFormatError, match=r"qa90_questions.jsonl: row 2: field 'text': the question is empty"):
        run_generate(_suite(tmp_path, question), tmp_path / "gen")
    assert not (tmp_path / "gen").exists()


def test_an_empty_question_with_on_error_skip_goes_to_failures(tmp_path: Path) -> None:
    config = _suite(tmp_path, " ")
    out = tmp_path / "gen"
    summary = run_generate(GenerateConfig(**{**config.__dict__, "on_error": "skip"}), out)
    failures = list(read_jsonl(out / "failures.jsonl"))
    assert [(f["item_id"], f["error"]) for f in failures] == [("1", "empty question")]
    assert failures[0]["file"].endswith("qa90_questions.jsonl: row 2: field 'text'")
    assert len(summary.failures) == 1
    for variant in ("clean", "char_typo_s3"):
        ids = [item.id for item in load_items(out, "lbcoco", variant)]
        assert ids == ["0", "2", "3", "4", "5"]


def test_invalid_utf8_in_a_questions_file_is_one_line_naming_file_and_row(tmp_path: Path) -> None:
    from robustbench_mllm.cli.app import app

    config = _suite(tmp_path, "placeholder")
    path = Path(config.source or "") / "qa90_questions.jsonl"
    path.write_bytes(path.read_bytes().replace(b"placeholder", b"caf\xff"))
    column = path.read_bytes().split(b"\n")[1].index(b"\xff") + 1
    result = CliRunner().invoke(app, ["generate", "--suite", "lbcoco", "--source", config.source, "--images",
                                      config.images, "--out", str(tmp_path / "gen")])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"error: {path}: line 2: byte 0xff at column {column} is not UTF-8 text; save the file as UTF-8"]


def test_an_empty_question_in_a_hub_copy_is_named_or_skipped_alike(tmp_path: Path) -> None:
    import io

    import datasets
    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 6, 3), 9, np.uint8)).save(buffer, format="PNG")
    image = {"bytes": buffer.getvalue(), "path": None}
    rows = {"question_id": ["0", "1"], "question": ["What is it?", "   "], "image": [image, image],
            "gpt_answer": ["A dog.", "A cat."], "caption": ["a dog", "a cat"], "category": ["conv", "detail"]}
    folder = tmp_path / "lb" / "data"
    folder.mkdir(parents=True)
    datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image()).to_parquet(str(folder / "train-0.parquet"))
    config = GenerateConfig(suite="lbcoco", source=str(tmp_path / "lb"), perturbations="char_typo")
    with pytest.raises(DataFormatError, match=r"row 1: field 'question': the question is empty"):
        run_generate(config, tmp_path / "fail")
    out = tmp_path / "skip"
    run_generate(GenerateConfig(**{**config.__dict__, "on_error": "skip"}), out)
    assert [f["item_id"] for f in read_jsonl(out / "failures.jsonl")] == ["1"]
    assert [item.id for item in load_items(out, "lbcoco", "char_typo_s3")] == ["0"]
