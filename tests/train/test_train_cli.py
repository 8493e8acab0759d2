"""``robust-mllm train`` through the command line: argument errors, LoRA end to end, shipped configs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from tests.fixtures.toy_instructions import build_toy_instructions


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    data = tmp_path / "d.json"
    result = CliRunner().invoke(app, ["train", "--base", str(tmp_path), "--data", str(data)])
    assert result.exit_code == 2 and "Invalid value for '--data'" in result.output
    data.write_text("[]")
    result = CliRunner().invoke(app, ["train", "--base", str(tmp_path), "--data", str(data), "--objective", "vittle"])
    assert result.exit_code == 2 and "unknown objective" in result.output


def test_shipped_deepspeed_configs_resolve_by_name() -> None:
    from robustbench_mllm.train.options import DEEPSPEED_DIR, resolve_deepspeed, zero_stage

    for stage in (2, 3):
        path = Path(resolve_deepspeed(Path(f"zero{stage}")) or "")
        assert path.parent == DEEPSPEED_DIR
        assert zero_stage(str(path)) == stage
    with pytest.raises(FileNotFoundError, match="shipped: zero2, zero3"):
        resolve_deepspeed(Path("zero4"))
    for name in ("zero2", "zero3"):  # LLaVA's settings: bf16 from the Trainer, no gradient clipping
        config = json.loads((DEEPSPEED_DIR / f"{name}.json").read_text())
        assert config["bf16"] == {"enabled": "auto"} and "gradient_clipping" not in config
        assert config["train_micro_batch_size_per_gpu"] == config["gradient_accumulation_steps"] == "auto"
    assert json.loads((DEEPSPEED_DIR / "zero3.json").read_text())["zero_optimization"][
        "stage3_gather_16bit_weights_on_model_save"] is True


@pytest.mark.slow
def test_lora_objective_saves_a_plain_merged_llava(tiny_llava_dir: Path, tmp_path: Path, one_thread: Any) -> None:
    pytest.importorskip("peft")
    from transformers import LlavaForConditionalGeneration

    data, images = build_toy_instructions(tmp_path / "toy")
    out = tmp_path / "out"
    args = [
        "train", "--base", str(tiny_llava_dir), "--data", str(data), "--images", str(images), "--out", str(out),
        "--objective", "lora", "--max-steps", "3", "--batch-size", "2", "--lora-rank", "4", "--lora-alpha", "8",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "train: finetune lora" in result.output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 3 and summary["options"]["lr_effective"] == 2e-4
    merged = LlavaForConditionalGeneration.from_pretrained(out)
    assert not any("lora" in key for key in merged.state_dict())
    base = LlavaForConditionalGeneration.from_pretrained(tiny_llava_dir)
    key = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not merged.state_dict()[key].equal(base.state_dict()[key])
    assert not (out / "vittle_config.json").exists()


def test_train_needs_no_extra_but_lora_names_it() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    main = [d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert {"accelerate", "transformers", "torch"} <= set(main)  # the Trainer works after the plain install
    assert any("peft" in d for d in project["optional-dependencies"]["train"])


def test_lora_projector_trains_at_its_own_learning_rate(tiny_llava_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    import warnings

    from robustbench_mllm.train.model_setup import build_trainable_model
    from robustbench_mllm.train.objective import ObjectiveConfig
    from robustbench_mllm.train.options import TrainConfig
    from robustbench_mllm.train.trainer import VittleTrainer, training_arguments

    options = TrainConfig(base=tiny_llava_dir, data=tmp_path, out=tmp_path, objective=ObjectiveConfig(name="lora"),
                          lora_rank=4, lora_alpha=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        built = build_trainable_model(options)
    trainer = VittleTrainer(model=built.model, args=training_arguments(options), objective=options.objective,
                            handle=None, lengths=None, projector_lr=options.projector_lr)
    optimizer = trainer.create_optimizer()
    names = {id(p): n for n, p in built.model.named_parameters()}
    for group in optimizer.param_groups:
        projector = {"multi_modal_projector" in names[id(p)] for p in group["params"]}
        assert len(projector) == 1
        assert group["lr"] == (2e-5 if projector.pop() else 2e-4)
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert trained == {id(p) for p in built.model.parameters() if p.requires_grad}
