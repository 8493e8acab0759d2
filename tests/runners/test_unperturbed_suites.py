"""The long-tail and closed-form suites as a user runs them: `generate --suite X --source COPY`
(clean only by default), then `evaluate` with the tiny LLaVA."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import read_json, read_jsonl
from robustbench_mllm.models.base import ModelAdapter
from robustbench_mllm.models.detect import load_adapter
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.runners.evaluate.run import EvaluateConfig, run_evaluate
from robustbench_mllm.sources.catalog import UNPERTURBED_SUITES
from robustbench_mllm.store.layout import predictions_file
from robustbench_mllm.store.variants import list_variants
from tests.fixtures.hub_copies import write_hub_copy

EXPECTED = {  # suite -> (task, items kept from the three-row copy)
    "lbwild": ("open_ended", 3), "lbwilder": ("open_ended", 3), "wvbench": ("open_ended", 3),
    "scienceqa_img": ("multiple_choice", 3), "mmmu": ("multiple_choice", 2),
    "mme": ("yes_no", 3), "mmstar": ("multiple_choice", 3),
}


@pytest.fixture(scope="module")
def tiny(tiny_llava_dir: Path) -> ModelAdapter:
    return load_adapter(str(tiny_llava_dir), LoadOptions(device="cpu"))


def generate(suite: str, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "generated"
    source = write_hub_copy(suite, tmp_path / "copy")
    result = CliRunner().invoke(app, ["generate", "--suite", suite, "--source", str(source), "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("suite", UNPERTURBED_SUITES)
def test_generate_clean_by_default_then_evaluate(suite: str, tiny: ModelAdapter, tiny_llava_dir: Path,
                                                tmp_path: Path) -> None:
    data = generate(suite, tmp_path)
    assert list_variants(data) == {suite: ["clean"]}
    run = tmp_path / "run"
    config = EvaluateConfig(model=str(tiny_llava_dir), data=data, out=run, max_new_tokens=4, batch_size=2)
    outcome = run_evaluate(config, tiny, show_progress=False)
    task, count = EXPECTED[suite]
    summary = outcome.results["datasets"][suite]["clean"]
    assert (summary["task"], summary["answered"], summary["complete"]) == (task, count, True)
    answers = [p["answer"] for p in read_jsonl(predictions_file(run, suite, "clean"))]
    assert len(answers) == count
    if task == "multiple_choice":
        assert 0.0 <= summary["metrics"]["accuracy"] <= 1.0 and summary["metrics"]["n"] == count
    elif task == "yes_no":
        assert set(summary["metrics"]["strict"]) == {"existence", "count", "pooled", "per_split"}
    assert read_json(run / "results.json")["evaluate"]["datasets"][suite]["clean"] == summary


def test_perturbations_can_still_be_asked_for(tmp_path: Path) -> None:
    data = generate("mmstar", tmp_path, "--perturbations", "frost,gaussian_noise")
    assert list_variants(data) == {"mmstar": ["clean", "frost_s3", "gaussian_noise_s3"]}
