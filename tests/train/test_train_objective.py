"""Alpha schedules, objective configuration, response CE and which parameters the loss reaches."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from robustbench_mllm.train.objective import ObjectiveConfig, alpha_at, response_cross_entropy

torch = pytest.importorskip("torch")


def test_sigmoid_schedule_values_at_start_middle_end() -> None:
    end = 0.5
    assert alpha_at(0, 100, "sigmoid", end) == pytest.approx(end / (1 + math.exp(5)))
    assert alpha_at(50, 100, "sigmoid", end) == pytest.approx(end / 2)
    assert alpha_at(100, 100, "sigmoid", end) == pytest.approx(end / (1 + math.exp(-5)))


def test_cosine_schedule_rises_from_zero_to_end() -> None:
    assert alpha_at(0, 10, "cosine", 0.4) == pytest.approx(0.0)
    assert alpha_at(5, 10, "cosine", 0.4) == pytest.approx(0.2)
    assert alpha_at(10, 10, "cosine", 0.4) == pytest.approx(0.4)
    values = [alpha_at(s, 10, "cosine") for s in range(11)]
    assert values == sorted(values)


def test_bad_objective_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown objective"):
        ObjectiveConfig(name="vittle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown alpha schedule"):
        ObjectiveConfig(alpha_schedule="linear")  # type: ignore[arg-type]
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
    assert paper.gradient_checkpointing and paper.bottleneck().layer_v == 24 and paper.bottleneck().prior == "fixed"
    assert options("weight-decay").wd == 0.1 and options("weight-decay", weight_decay=0.05).wd == 0.05
    assert options("baseline").wd == 0.0 and options("lora").lr == 2e-4
    assert options("vittle-l").bottleneck().prior == "learned"
    with pytest.raises(ValueError, match="ZeRO-2, not ZeRO-3"):
        options("lora", deepspeed=Path("zero3"))
    with pytest.raises(ValueError, match="`batch_size` must be positive"):
        options("baseline", batch_size=0)


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


def test_training_arguments_follow_the_paper(tmp_path: Path) -> None:
    from robustbench_mllm.train.options import TrainConfig
    from robustbench_mllm.train.trainer import training_arguments

    options = TrainConfig(base=tmp_path, data=tmp_path, out=tmp_path, max_steps=1000)
    args = training_arguments(options)
    assert args.lr_scheduler_type == "cosine" and args.learning_rate == 2e-5  # a str enum
    assert args.get_warmup_steps(1000) == 30 and args.weight_decay == 0.0 and args.num_train_epochs == 1.0
    assert args.gradient_checkpointing and args.per_device_train_batch_size == 16 and args.deepspeed is None
