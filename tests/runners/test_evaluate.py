"""`robust-mllm evaluate` / `merge` end to end on the tiny LLaVA and a tiny generated set."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import atomic_write_json, read_json, read_jsonl
from robustbench_mllm.metrics.pope import yes_no_report
from robustbench_mllm.models.base import GenerationParams, ModelAdapter
from robustbench_mllm.models.detect import load_adapter
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.runners.evaluate.merge import merge_runs
from robustbench_mllm.runners.evaluate.run import EvaluateConfig, check_run_info, run_evaluate
from robustbench_mllm.runners.evaluate.shard import Shard
from robustbench_mllm.store.layout import predictions_file
from tests.fixtures.fake_openai import FakeOpenAIServer, FaultPlan, last_user_text
from tests.fixtures.tiny_generated import tiny_items, write_tiny_generated

TOTAL_ITEMS = 12 * 2 + 4 + 4


class CountingAdapter:
    """The real tiny model, counting the items it is asked to answer."""

    def __init__(self, inner: ModelAdapter) -> None:
        self.inner = inner
        self.items = 0

    def generate(self, batch: Sequence[tuple[Image.Image, str]], params: GenerationParams) -> list[str]:
        self.items += len(batch)
        return self.inner.generate(batch, params)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_generated(tmp_path_factory.mktemp("generated"))


@pytest.fixture(scope="module")
def tiny(tiny_llava_dir: Path) -> ModelAdapter:
    return load_adapter(str(tiny_llava_dir), LoadOptions(device="cpu"))


def config_for(model: Path, data: Path, out: Path, **kw: Any) -> EvaluateConfig:
    return EvaluateConfig(model=str(model), data=data, out=out, max_new_tokens=4, batch_size=4, **kw)


def lines_of(run: Path, dataset: str, variant: str) -> list[dict[str, Any]]:
    return list(read_jsonl(predictions_file(run, dataset, variant)))


def all_answers(run: Path) -> dict[tuple[str, str, str], str]:
    return {(p["dataset"], p["variant"], p["id"]): p["answer"]
            for f in sorted((run / "predictions").glob("*/*.jsonl")) for p in read_jsonl(f)}


@pytest.mark.slow
def test_cli_end_to_end_through_model_path(tiny_llava_dir: Path, data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["evaluate", "--model", str(tiny_llava_dir), "--data", str(data), "--out", str(run),
            "--max-new-tokens", "4", "--device", "cpu", "--variants", "clean", "--datasets", "tiny_pope,tiny_mc"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "tiny_pope" in result.output and "16 answers generated" in result.output
    info = read_json(run / "run.json")
    assert info["adapter_name"] == "llava-hf" and info["adapter"]["adapter"] == "llava-hf"
    section = read_json(run / "results.json")["evaluate"]
    assert set(section["datasets"]) == {"tiny_pope", "tiny_mc"}
    pope = section["datasets"]["tiny_pope"]["clean"]
    assert pope["task"] == "yes_no" and pope["complete"]
    # the stored metrics are those of the stored answers
    labels = {i.id: (i.split, i.label) for i in tiny_items("tiny_pope", 12)}
    rows = [(*labels[p["id"]], p["answer"]) for p in lines_of(run, "tiny_pope", "clean")]
    assert pope["metrics"]["llava"] == json.loads(json.dumps(yes_no_report(rows)))
    assert section["datasets"]["tiny_mc"]["clean"]["metrics"]["n"] == 4


def test_resume_after_a_crash_never_duplicates(tiny: ModelAdapter, tiny_llava_dir: Path, data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = run_evaluate(config_for(tiny_llava_dir, data, run), CountingAdapter(tiny), show_progress=False)
    assert first.generated == TOTAL_ITEMS
    reference = all_answers(run)
    # simulate kill -9: two complete lines survive, the third was cut mid-write
    target = predictions_file(run, "tiny_pope", "frost_s3")
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    target.write_text("".join(lines[:2]) + lines[2][:15], encoding="utf-8")
    counting = CountingAdapter(tiny)
    second = run_evaluate(config_for(tiny_llava_dir, data, run), counting, show_progress=False)
    assert counting.items == 12 - 2 and second.skipped == TOTAL_ITEMS - 10
    ids = [p["id"] for p in lines_of(run, "tiny_pope", "frost_s3")]
    assert len(ids) == 12 and not [i for i, c in Counter(ids).items() if c > 1]
    assert all_answers(run) == reference  # greedy: the resumed answers are the same


def test_rerun_of_a_finished_run_generates_nothing(tiny: ModelAdapter, tiny_llava_dir: Path, data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = config_for(tiny_llava_dir, data, run, limit=3)
    run_evaluate(config, tiny, show_progress=False)
    counting = CountingAdapter(tiny)
    again = run_evaluate(config, counting, show_progress=False)
    assert counting.items == 0 and again.generated == 0 and again.skipped == 3 * 4
    with pytest.raises(DataFormatError, match="max_new_tokens"):
        run_evaluate(replace(config, max_new_tokens=5), tiny, show_progress=False)


@pytest.mark.slow
def test_shards_merge_to_the_unsharded_run(tiny: ModelAdapter, tiny_llava_dir: Path, data: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    full = run_evaluate(config_for(tiny_llava_dir, data, whole, limit=5), tiny, show_progress=False)
    shards = [tmp_path / f"shard{i}" for i in range(2)]
    sizes = [run_evaluate(config_for(tiny_llava_dir, data, s, limit=5, shard=Shard(i, 2)), tiny,
                          show_progress=False).generated
             for i, s in enumerate(shards)]
    assert sum(sizes) == 5 + 5 + 4 + 4 and min(sizes) > 0
    merged = merge_runs(shards + [shards[0]], tmp_path / "merged")  # a shard listed twice: deduped
    assert merged.predictions == sum(sizes) and merged.duplicates == sizes[0] and merged.conflicts == 0
    assert all_answers(tmp_path / "merged") == all_answers(whole)
    assert merged.results["datasets"] == full.results["datasets"]
    with pytest.raises(DataFormatError, match="differ"):
        other = tmp_path / "other"
        run_evaluate(config_for(tiny_llava_dir, data, other, limit=2), tiny, show_progress=False)
        merge_runs([shards[0], other], tmp_path / "bad")


def test_failed_api_items_are_retried_by_a_rerun(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    run = tmp_path / "run"

    def answer(body: dict[str, Any]) -> str:
        return "Yes" if "dog" in last_user_text(body) else "No"

    with FakeOpenAIServer(answer, faults=FaultPlan(rate=0.4, kinds=("500",), seed=1)) as flaky:
        args = ["evaluate", "--model", "served", "--base-url", flaky.base_url, "--max-retries", "0",
                "--request-timeout", "30", "--data", str(data), "--datasets", "tiny_pope", "--out", str(run)]
        first = CliRunner().invoke(app, args)
    assert first.exit_code == 1 and "rerun the same command to retry them" in first.output, first.output
    answered = sum(1 for _ in read_jsonl(predictions_file(run, "tiny_pope", "clean"))) + sum(
        1 for _ in read_jsonl(predictions_file(run, "tiny_pope", "frost_s3")))
    assert 0 < answered < 24
    with FakeOpenAIServer(answer) as healthy:  # the same served model, now on another port
        options = LoadOptions(base_url=healthy.base_url)
        config = EvaluateConfig(model="served", data=data, out=run, datasets=("tiny_pope",), options=options)
        second = run_evaluate(config, show_progress=False)
    assert second.generated == 24 - answered == len(healthy.requests)
    pope = read_json(run / "results.json")["evaluate"]["datasets"]["tiny_pope"]
    assert all(v["complete"] for v in pope.values())
    assert pope["clean"]["metrics"]["strict"]["per_split"]["unparseable"] == 0


def test_a_rerun_with_other_settings_is_refused_naming_only_what_changed(data: Path, tmp_path: Path) -> None:
    first = config_for(Path("tiny"), data, tmp_path / "run")
    atomic_write_json(tmp_path / "run" / "run.json", check_run_info(first, "llava-hf", "sha"))
    assert check_run_info(first, "llava-hf", "sha")["params"] == first.identity()
    with pytest.raises(DataFormatError, match=r"params=\{'max_new_tokens': 4\}, now \{'max_new_tokens': 8\}; use another `out` folder"):
        check_run_info(replace(first, max_new_tokens=8), "llava-hf", "sha")
