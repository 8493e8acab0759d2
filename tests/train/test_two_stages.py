"""The paper's recipe end to end on CPU, on tiny separate parts: a Llama folder and a CLIP vision
folder (each ``save_pretrained``). Stage 1 trains the projector alone on captions (``plain``);
Stage 2 trains Vittle (F) from the two folders + the Stage-1 projector (``vicuna_v1``,
modality-grouped batches, the released KL); ``evaluate`` then runs the result through the
``vittle`` adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from tests.fixtures.tiny_parts import build_tiny_clip_vision, build_tiny_llm
from tests.fixtures.toy_instructions import build_toy_captions, build_toy_instructions

torch = pytest.importorskip("torch")


def _weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return {k: v for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(str(f)).items()}


def _unchanged(before: dict[str, Any], after: dict[str, Any], prefix: str) -> None:
    keys = [k for k in before if prefix in k]
    assert keys
    for key in keys:
        assert torch.equal(before[key], after[key]), key


@pytest.mark.slow
def test_stage1_then_stage2_from_parts_then_evaluate(tmp_path: Path, one_thread: None) -> None:
    from robustbench_mllm.io_utils import read_json, read_jsonl
    from robustbench_mllm.train.assemble import assemble_llava
    from tests.fixtures.tiny_generated import write_tiny_generated

    llm, clip = build_tiny_llm(tmp_path / "llm"), build_tiny_clip_vision(tmp_path / "clip")
    captions, images = build_toy_captions(tmp_path / "captions", repeat=2)
    stage1, stage2, run = tmp_path / "stage1", tmp_path / "stage2", tmp_path / "run"

    result = CliRunner().invoke(app, [
        "train", "--stage", "pretrain", "--llm", str(llm), "--vision-tower", str(clip), "--data", str(captions),
        "--images", str(images), "--out", str(stage1), "--max-steps", "3", "--batch-size", "2",
    ])
    assert result.exit_code == 0, result.output
    assert "train: pretrain baseline" in result.output
    summary = read_json(stage1 / "train_summary.json")
    assert summary["template"] == "plain" and summary["options"]["lr_effective"] == 1e-3
    assert not (stage1 / "assembled").exists()  # superseded by the final model
    # what Stage 1 started from: the same parts, assembled again with the same seed
    initial = _weights(assemble_llava(llm, clip, None, tmp_path / "initial", seed=0))
    trained = _weights(stage1)
    changed = {k for k in initial if not torch.equal(initial[k], trained[k])}
    projector_keys = {k for k in initial if "multi_modal_projector." in k}
    assert changed == projector_keys and len(projector_keys) == 4
    projector = _weights_file(stage1 / "mm_projector.safetensors")
    assert set(projector) == {f"linear_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}
    (linear_1,) = [k for k in projector_keys if k.endswith("linear_1.weight")]
    assert torch.equal(projector["linear_1.weight"], trained[linear_1])

    data, instruction_images = build_toy_instructions(tmp_path / "toy")
    result = CliRunner().invoke(app, [
        "train", "--llm", str(llm), "--vision-tower", str(clip), "--projector", str(stage1 / "mm_projector.safetensors"),
        "--data", str(data), "--images", str(instruction_images), "--out", str(stage2), "--objective", "vittle-f",
        "--layer", "1", "--kl-form", "released", "--alpha-schedule", "released", "--batch-size", "1",
    ])
    assert result.exit_code == 0, result.output
    summary = read_json(stage2 / "train_summary.json")
    # the released step rule: 5 samples // (1 per device x 1 process) = 5 steps
    assert summary["steps"] == 5 and summary["step_rule"] == "released: 5 // (1 x 1 x 1) = 5"
    assert summary["model_folder"] == str(stage2 / "assembled") and not (stage2 / "assembled").exists()
    assert summary["template"] == "vicuna_v1" and summary["alpha_schedule"] == "released"
    steps = [r for r in read_jsonl(stage2 / "train_log.jsonl") if "loss" in r]
    assert all(r["loss"] == r["loss"] for r in steps)  # finite, no NaN
    # the one text-only row is a batch of its own (modality grouping): counted, and its loss finite
    assert summary["text_only_batches"] == sum(r["text_only_batches"] for r in steps) == 1
    assert "1 text-only batches" in result.output
    finetuned = _weights(stage2)
    _unchanged(initial, finetuned, "vision_tower.")
    assert not torch.equal(finetuned[linear_1], projector["linear_1.weight"])
    (layer,) = [k for k in initial if k.endswith("layers.0.mlp.down_proj.weight")]
    assert not torch.equal(finetuned[layer], initial[layer])
    assert any("bottleneck_layer_v." in k for k in finetuned)

    generated = write_tiny_generated(tmp_path / "generated")
    result = CliRunner().invoke(app, [
        "evaluate", "--model", str(stage2), "--data", str(generated), "--out", str(run), "--max-new-tokens", "4",
        "--device", "cpu", "--variants", "clean", "--datasets", "tiny_pope",
    ])
    assert result.exit_code == 0, result.output
    info = json.loads((run / "run.json").read_text())
    assert info["adapter_name"] == "vittle" and info["adapter"]["bottleneck"]["layer_v"] == 1


def _weights_file(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))
