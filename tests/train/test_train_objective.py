"""Alpha schedules, objective configuration, response CE and which parameters the loss reaches."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from robustbench_mllm.train.objective import ObjectiveConfig, alpha_at, response_cross_entropy

torch = pytest.importorskip("torch")


def test_released_alpha_is_the_released_sigmoid_over_max_steps() -> None:
    # vittle_trainer.py: 0.5 * sigmoid(10 * (step / max_steps - 0.5)), max_steps = 5197 on 8 GPUs
    def released(step: int, total: int) -> float:
        return 0.5 / (1 + math.exp(-10 * (step / total - 0.5)))

    for step in (0, 1000, 2598, 5197):
        assert alpha_at(step, 5197, "released", 0.5) == pytest.approx(released(step, 5197))
    assert alpha_at(0, 5197, "released") == pytest.approx(0.00335, abs=1e-5)
    assert alpha_at(5197, 5197, "released") == pytest.approx(0.4966, abs=1e-4)


def test_exact_alpha_is_the_papers_cosine_ramp() -> None:
    for step, total in ((0, 10), (3, 10), (5, 10), (10, 10), (1300, 5198)):
        expected = 0.4 * (1 - math.cos(math.pi * step / total)) / 2
        assert alpha_at(step, total, "exact", 0.4) == pytest.approx(expected)
    assert alpha_at(5, 10, "exact", 0.4) == pytest.approx(0.2)
    values = [alpha_at(s, 10, "exact") for s in range(11)]
    assert values == sorted(values) and values[0] == 0.0


def test_released_step_rule_floors_samples_over_the_global_batch() -> None:
    from robustbench_mllm.train.objective import released_max_steps

    assert released_max_steps(665298, 16, 8) == 665298 // (16 * 8) == 5197
    assert released_max_steps(558128, 32, 8) == 2180
    assert released_max_steps(10, 2, 1, grad_accum=2) == 2
    with pytest.raises(ValueError, match="no full step"):
        released_max_steps(3, 2, 2)


def test_bad_objective_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown objective"):
        ObjectiveConfig(name="vittle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown alpha schedule"):
        ObjectiveConfig(alpha_schedule="sigmoid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_steps"):
        alpha_at(1, 0)
    assert ObjectiveConfig(name="vittle-l").prior == "learned"
    assert ObjectiveConfig(name="vittle-f").prior == "fixed"


def test_response_ce_matches_torch_and_is_zero_without_labels() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, generator=gen, requires_grad=True)
    labels = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, -100, -100, -100]])
    expected = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1))
    assert response_cross_entropy(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    none = response_cross_entropy(logits, torch.full_like(labels, -100))
    none.backward()
    assert none.item() == 0.0 and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("objective", ["vittle-f", "vittle-l"])
def test_learnable_prior_gets_gradients_only_in_vittle_l(tiny_llava_dir: Path, tmp_path: Path, objective: str) -> None:
    from robustbench_mllm.train.model_setup import build_trainable_model
    from robustbench_mllm.train.objective import objective_loss
    from robustbench_mllm.train.options import TrainConfig

    config = ObjectiveConfig(name=objective)  # type: ignore[arg-type]
    options = TrainConfig(base=tiny_llava_dir, data=tmp_path, out=tmp_path, objective=config, layer_v=1, layer_t=2)
    built = build_trainable_model(options)
    model, handle = built.model.train(), built.handle
    assert handle is not None
    handle.training_alpha = 0.5
    n_image = model.config.image_seq_length
    ids = torch.tensor([[1, 10, *([model.config.image_token_id] * n_image), 11, 12, 13]])
    labels = torch.full_like(ids, -100)
    labels[0, -2:] = ids[0, -2:]
    handle.expect_labels(labels)
    out = model(input_ids=ids, pixel_values=torch.randn(1, 3, 32, 32), use_cache=False)
    parts = objective_loss(out.logits, labels, config, handle)
    parts.total.backward()
    assert parts.kl_v is not None and parts.kl_t is not None and parts.kl_v.item() > 0
    priors = [handle.prior(m) for m in ("v", "t")]
    host = model.model
    for name in ("prior_mu_v", "prior_logvar_v", "prior_mu_t", "prior_logvar_t"):
        grad = getattr(host, name).grad
        if objective == "vittle-l":
            assert grad is not None and grad.abs().sum() > 0, name
        else:
            assert grad is None, name
    assert (priors[0][0] is None) == (objective == "vittle-f")
    assert not any(p.requires_grad for p in model.model.vision_tower.parameters())
    assert all(p.grad is not None for p in handle.mlp("v").parameters())


def test_paper_defaults_and_per_objective_optimiser_settings(tmp_path: Path) -> None:
    from robustbench_mllm.train.options import TrainConfig

    def options(name: str, **kwargs: object) -> TrainConfig:
        return TrainConfig(base=tmp_path, data=tmp_path, out=tmp_path, objective=ObjectiveConfig(name=name), **kwargs)  # type: ignore[arg-type]

    paper = options("vittle-f")
    assert (paper.lr, paper.wd, paper.epochs, paper.warmup_ratio, paper.max_length) == (2e-5, 0.0, 1.0, 0.03, 2048)
    assert (paper.per_device_batch, paper.chat_template, paper.modality_batches, paper.pad) == (16, "vicuna_v1", True, True)
    assert paper.gradient_checkpointing and paper.bottleneck().layer_v == 24 and paper.bottleneck().prior == "fixed"
    assert options("weight-decay").wd == 0.1 and options("weight-decay", weight_decay=0.05).wd == 0.05
    assert options("baseline").wd == 0.0 and options("baseline").projector_lr is None
    lora = options("lora")
    assert (lora.lr, lora.projector_lr, lora.lora_rank, lora.lora_alpha) == (2e-4, 2e-5, 128, 256)
    assert options("vittle-l").bottleneck().prior == "learned"
    with pytest.raises(ValueError, match="ZeRO-2, not ZeRO-3"):
        options("lora", deepspeed=Path("zero3"))
    with pytest.raises(ValueError, match="`batch_size` must be positive"):
        options("baseline", batch_size=0)


def test_stage_one_defaults_and_source_rules(tmp_path: Path) -> None:
    from robustbench_mllm.train.options import TrainConfig

    stage1 = TrainConfig(data=tmp_path, out=tmp_path, stage="pretrain", llm=tmp_path, vision_tower=tmp_path,
                         objective=ObjectiveConfig(name="baseline"))
    assert (stage1.lr, stage1.per_device_batch, stage1.wd, stage1.warmup_ratio, stage1.epochs) == (1e-3, 32, 0.0, 0.03, 1.0)
    assert (stage1.chat_template, stage1.modality_batches, stage1.pad, stage1.max_length) == ("plain", False, False, 2048)
    bad = [
        ({"stage": "pretrain", "llm": tmp_path, "vision_tower": tmp_path}, "objective` baseline"),
        ({"stage": "pretrain", "base": tmp_path, "objective": ObjectiveConfig(name="baseline")}, "no `base`"),
        ({"llm": tmp_path, "vision_tower": tmp_path}, "needs the Stage-1 `projector`"),
        ({"base": tmp_path, "llm": tmp_path}, "not both"),
        ({}, "give `base`"),
        ({"base": tmp_path, "stage": "stage3"}, "`stage` 'stage3'"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            TrainConfig(data=tmp_path, out=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_text_only_batch_gives_a_finite_objective_and_gradients(tiny_llava_dir: Path, tmp_path: Path) -> None:
    """The released code divides by the visual-token count, giving NaN on a batch without images."""
    from robustbench_mllm.train.model_setup import build_trainable_model
    from robustbench_mllm.train.objective import objective_loss
    from robustbench_mllm.train.options import TrainConfig

    config = ObjectiveConfig(name="vittle-l", kl_form="released")
    options = TrainConfig(base=tiny_llava_dir, data=tmp_path, out=tmp_path, objective=config, layer_v=1, layer_t=1)
    built = build_trainable_model(options)
    model, handle = built.model.train(), built.handle
    assert handle is not None
    handle.training_alpha = 0.5
    ids = torch.tensor([[1, 10, 11, 12, 13, 14], [1, 15, 16, 17, 18, 0]])
    labels = ids.clone()
    labels[:, :3] = -100
    labels[1, -1] = -100
    handle.expect_labels(labels)
    out = model(input_ids=ids, attention_mask=(labels != -100) | (ids != 0), use_cache=False)
    parts = objective_loss(out.logits, labels, config, handle)
    parts.total.backward()
    assert torch.isfinite(parts.total) and parts.kl_v is not None and parts.kl_v.item() == 0.0
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert handle.mlp("t")[0].weight.grad.abs().sum() > 0
    # every trainable parameter is in the graph (DDP needs it): the projector with a zero gradient,
    # the unused text prior of the released KL frozen
    projector = model.model.multi_modal_projector.linear_1.weight
    assert projector.grad is not None and projector.grad.abs().sum() == 0
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []
    assert not model.model.prior_mu_t.requires_grad and model.model.prior_mu_v.requires_grad


def test_training_arguments_follow_the_paper(tmp_path: Path) -> None:
    import warnings

    from robustbench_mllm.train.options import TrainConfig
    from robustbench_mllm.train.trainer import training_arguments

    options = TrainConfig(base=tmp_path, data=tmp_path, out=tmp_path, max_steps=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated argument names of ours
        args = training_arguments(options)
    assert args.lr_scheduler_type == "cosine" and args.learning_rate == 2e-5  # a str enum
    assert args.get_warmup_steps(1000) == 30 and args.weight_decay == 0.0 and args.num_train_epochs == 1.0
    checkpointing = getattr(args, "activation_checkpointing", None) or args.gradient_checkpointing
    assert checkpointing and args.per_device_train_batch_size == 16 and args.deepspeed is None
