"""End to end on the tiny LLaVA: train with the Vittle objective, resume, save, reload, generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robustbench_mllm.io_utils import read_jsonl
from robustbench_mllm.train.objective import ObjectiveConfig
from robustbench_mllm.train.options import TrainConfig
from tests.fixtures.toy_instructions import PICTURES, build_toy_instructions

torch = pytest.importorskip("torch")


def _answers(runtime: Any, images: Path) -> list[str]:
    from PIL import Image

    from robustbench_mllm.models.base import GenerationParams

    batch = [(Image.open(images / f"{name}.png").convert("RGB"), "Is there a dog in the image?") for name in PICTURES]
    return runtime.generate(batch, GenerationParams(max_new_tokens=8, batch_size=len(batch)))


@pytest.mark.slow
def test_vittle_training_resumes_lowers_loss_and_reloads_identically(
    tiny_llava_dir: Path, tmp_path: Path, one_thread: None
) -> None:
    from robustbench_mllm.models.llava_runtime import LlavaRuntime
    from robustbench_mllm.models.options import LoadOptions
    from robustbench_mllm.models.vittle import load_vittle
    from robustbench_mllm.train.trainer import run_training

    data, images = build_toy_instructions(tmp_path / "toy")
    out = tmp_path / "out"

    def options(max_steps: int) -> TrainConfig:
        return TrainConfig(
            base=tiny_llava_dir, data=data, images=images, out=out, objective=ObjectiveConfig(name="vittle-l"),
            layer_v=2, layer_t=2, max_steps=max_steps, batch_size=2, learning_rate=2e-3, save_steps=10,
        )

    first = run_training(options(10))
    assert first.summary["steps"] == 10 and (out / "checkpoints" / "checkpoint-10").is_dir()
    second = run_training(options(30))
    assert second.summary["resumed_from"].endswith("checkpoint-10") and second.summary["steps"] == 30

    steps = [r for r in read_jsonl(out / "train_log.jsonl") if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 31))
    assert all(k in steps[0] for k in ("ce", "kl_v", "kl_t", "alpha"))
    assert steps[0]["alpha"] < 0.01 and steps[-1]["alpha"] > 0.45
    early, late = sum(r["ce"] for r in steps[:5]) / 5, sum(r["ce"] for r in steps[-5:]) / 5
    assert late < 0.6 * early, (early, late)

    trained = second.trained.model.eval()
    reloaded = load_vittle(str(out), LoadOptions(device="cpu", dtype="float32", pad_to_square=True))
    assert reloaded.describe()["bottleneck"]["layer_v"] == 2
    for key, value in second.trained.handle.state_dict().items():
        assert torch.equal(reloaded.model.state_dict()[key], value), key
    in_memory = LlavaRuntime(
        trained, second.trained.processor, format_prompt=reloaded.format_prompt, pad_square=True, description={}
    )
    expected = _answers(in_memory, images)
    assert _answers(reloaded, images) == expected
    assert any(expected)


@pytest.mark.slow
def test_trained_checkpoint_evaluates_through_the_cli_with_the_vittle_adapter(
    tiny_llava_dir: Path, tmp_path: Path, one_thread: None
) -> None:
    from typer.testing import CliRunner

    from robustbench_mllm.cli.app import app
    from robustbench_mllm.io_utils import read_json
    from tests.fixtures.tiny_generated import write_tiny_generated

    data, images = build_toy_instructions(tmp_path / "toy")
    out, run = tmp_path / "out", tmp_path / "run"
    train = ["train", "--base", str(tiny_llava_dir), "--data", str(data), "--images", str(images), "--out", str(out),
             "--objective", "vittle-f", "--layer", "3", "--max-steps", "2", "--batch-size", "2"]
    result = CliRunner().invoke(app, train)
    assert result.exit_code == 0, result.output
    assert "train: finetune vittle-f" in result.output
    generated = write_tiny_generated(tmp_path / "generated")
    evaluate = ["evaluate", "--model", str(out), "--data", str(generated), "--out", str(run), "--max-new-tokens", "4",
                "--device", "cpu", "--variants", "clean", "--datasets", "tiny_pope"]
    result = CliRunner().invoke(app, evaluate)
    assert result.exit_code == 0, result.output
    info = read_json(run / "run.json")
    assert info["adapter_name"] == "vittle"
    assert info["adapter"]["bottleneck"]["layer_v"] == 3
