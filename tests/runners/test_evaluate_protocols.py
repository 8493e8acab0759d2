"""`evaluate` under each protocol: the exact text sent for POPE and multiple-choice items, the
answer parser and POPE average applied, and the protocol recorded in run.json and results.json."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.models.base import GenerationParams
from robustbench_mllm.protocols import CANONICAL, VITTLE
from robustbench_mllm.runners.evaluate.run import EvaluateConfig, run_evaluate
from robustbench_mllm.runners.evaluate.scoring import headline
from tests.fixtures.fake_openai import FakeOpenAIServer, last_user_text
from tests.fixtures.tiny_generated import tiny_items, write_tiny_generated

# One line of the released POPE question file (playground/data/eval/pope/llava_pope_test.jsonl):
# the suffix is part of "text", after a newline.
RELEASED_POPE_LINE = {
    "question_id": 1, "image": "COCO_val2014_000000310196.jpg", "category": "adversarial",
    "text": "Is there a snowboard in the image?\nAnswer the question using a single word or phrase.",
}
RELEASED_SUFFIX = RELEASED_POPE_LINE["text"].removeprefix("Is there a snowboard in the image?")


class RecordingAdapter:
    """Records the exact (question text) each item is sent; answers every yes/no item "Yes"."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def generate(self, batch: Sequence[tuple[Image.Image, str]], params: GenerationParams) -> list[str]:
        self.sent.extend(text for _, text in batch)
        return ["C. car" if "Which object" in text else "Yes" for _, text in batch]

    def describe(self) -> dict[str, Any]:
        return {"adapter": "recording"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_generated(tmp_path_factory.mktemp("generated"))  # no protocol recorded: canonical


def split_sent(sent: list[str]) -> tuple[list[str], list[str]]:
    """(yes/no texts, multiple-choice texts), each in item order."""
    choice = [text for text in sent if text.startswith("Which object")]
    return [text for text in sent if text not in choice], choice


def evaluate(data: Path, out: Path, protocol: str | None) -> tuple[RecordingAdapter, dict[str, Any]]:
    adapter = RecordingAdapter()
    config = EvaluateConfig(model="m", data=data, out=out, adapter="llava-hf", variants=("clean",),
                            datasets=("tiny_pope", "tiny_mc"), protocol=protocol)
    return adapter, run_evaluate(config, adapter, show_progress=False).results  # type: ignore[arg-type]


def test_vittle_sends_the_released_pope_text_and_scores_as_the_paper(data: Path, tmp_path: Path) -> None:
    adapter, results = evaluate(data, tmp_path / "run", "vittle")
    yes_no, choice = split_sent(adapter.sent)
    assert yes_no == [item.question + RELEASED_SUFFIX for item in tiny_items("tiny_pope", 12)]
    assert yes_no[0] == "Is there a dog in the image?\nAnswer the question using a single word or phrase."
    assert choice[0].endswith("\nD. bus\nAnswer in a character from the given choices directly.")
    summary = results["datasets"]["tiny_pope"]["clean"]
    assert summary["average"] == "pooled"
    pooled = summary["metrics"]["llava"]["pooled"]
    assert headline(summary) == f"acc {pooled['accuracy']:.4f}  F1 {pooled['f1']:.4f} (pooled)"
    assert set(summary["metrics"]["llava"]) == {"random", "popular", "pooled", "per_split"}
    # "C. car" is option C under the released ScienceQA rule; labels cycle A-D over 4 items
    choice = results["datasets"]["tiny_mc"]["clean"]
    assert choice["parser"] == "scienceqa" and choice["metrics"]["correct"] == 1
    assert results["protocol"] == VITTLE.record()
    info = read_json(tmp_path / "run" / "run.json")
    assert (info["protocol"]["name"], info["protocol"]["version"]) == ("vittle", "1")
    assert info["params"]["protocol"] == "vittle" and "protocol" not in info["params"]["options"]
    assert read_json(tmp_path / "run" / "results.json")["evaluate"]["protocol"] == VITTLE.record()


def test_canonical_sends_the_bare_question(data: Path, tmp_path: Path) -> None:
    adapter, results = evaluate(data, tmp_path / "run", None)  # the data's own: canonical
    yes_no, choice = split_sent(adapter.sent)
    assert yes_no == [item.question for item in tiny_items("tiny_pope", 12)]
    assert choice[0].endswith("\nD. bus\nAnswer with the option's letter from the given choices directly.")
    summary = results["datasets"]["tiny_pope"]["clean"]
    assert summary["average"] == "per_split" and headline(summary).endswith("(per_split)")
    assert results["datasets"]["tiny_mc"]["clean"]["parser"] == "lenient"
    assert results["protocol"] == CANONICAL.record()


def test_cli_protocol_option_reaches_the_served_model(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    texts: list[str] = []

    def answer(body: dict[str, Any]) -> str:
        texts.append(last_user_text(body))
        return "No"

    with FakeOpenAIServer(answer) as server:
        args = ["evaluate", "--model", "served", "--base-url", server.base_url, "--data", str(data),
                "--datasets", "tiny_pope", "--variants", "clean", "--out", str(tmp_path / "run"),
                "--protocol", "vittle"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(texts) == sorted(item.question + RELEASED_SUFFIX for item in tiny_items("tiny_pope", 12))
    assert "(pooled)" in result.output
    wrong = CliRunner().invoke(app, [*args[:-1], "vitle"])
    assert wrong.exit_code == 2 and "vittle" in wrong.output
