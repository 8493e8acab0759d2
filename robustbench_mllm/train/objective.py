"""The training objectives: which parts train, the alpha schedule and the Vittle loss terms.

Loss = CE(response tokens) + beta_v KL_v + beta_t KL_t (Vittle); CE alone otherwise. The KL terms
are dimension-normalised means (``robustbench_mllm.models.bottleneck``); ``kl_form="released"``
reproduces the released code's KL (PROTOCOL_FACTS 6).

Alpha (the training-time mixing weight, x = step / max_steps in [0, 1]):

- ``exact`` (the paper's text, a cosine ramp): a(x) = end (1 - cos(pi x)) / 2, from 0 to end
- ``released`` (the released trainer, a sigmoid): a(x) = end / (1 + exp(-10 (x - 0.5))); there
  max_steps is len(data) // (per-device batch x GPUs), which also ends the run (``released_max_steps``)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.models.bottleneck import IGNORE_INDEX, KLForm, Prior

if TYPE_CHECKING:
    import torch

    from robustbench_mllm.models.bottleneck_hooks import BottleneckHandle

ObjectiveName = Literal["baseline", "vittle-f", "vittle-l", "weight-decay", "lora"]
OBJECTIVES: tuple[str, ...] = ("baseline", "vittle-f", "vittle-l", "weight-decay", "lora")
AlphaSchedule = Literal["exact", "released"]
ALPHA_SCHEDULES: tuple[str, ...] = ("exact", "released")
TextKLTokens = Literal["instruction", "all"]
# weight decay of the `weight-decay` regularisation baseline when --weight-decay is not given
DEFAULT_REGULARISING_WEIGHT_DECAY = 0.1


def alpha_at(step: int, max_steps: int, schedule: AlphaSchedule = "exact", end: float = 0.5) -> float:
    """The mixing weight at optimiser step ``step`` of ``max_steps``."""
    if max_steps <= 0:
        raise ConfigError(f"max_steps must be positive, got {max_steps}")
    x = min(max(step / max_steps, 0.0), 1.0)
    if schedule == "released":
        return end / (1 + math.exp(-10 * (x - 0.5)))
    if schedule == "exact":
        return end * (1 - math.cos(math.pi * x)) / 2
    raise ConfigError(f"unknown alpha schedule {schedule!r}: expected one of {ALPHA_SCHEDULES}")


def released_max_steps(samples: int, per_device_batch: int, processes: int, grad_accum: int = 1) -> int:
    """The step count the released train.py sets: len(data) // (per-device batch x GPUs), floored,
    e.g. 665298 // (16 x 8) = 5197 on one 8-GPU node. The released code counts the GPUs of the
    node (``torch.cuda.device_count()``); we count every process, so several nodes still run one
    epoch; the released scripts accumulate no gradients, ``grad_accum`` > 1 divides further."""
    steps = samples // (per_device_batch * processes * grad_accum)
    if steps <= 0:
        raise ConfigError(
            f"{samples} samples make no full step of `batch_size` {per_device_batch} x {processes} processes "
            f"x `grad_accum` {grad_accum}: use fewer or give `max_steps`"
        )
    return steps


@dataclass(frozen=True)
class ObjectiveConfig:
    name: ObjectiveName = "vittle-f"
    beta_v: float = 0.1
    beta_t: float = 0.1
    kl_form: KLForm = "exact"
    alpha_schedule: AlphaSchedule = "exact"
    alpha_end: float = 0.5
    text_kl_tokens: TextKLTokens = "instruction"

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.name!r}: expected one of {OBJECTIVES}")
        if self.kl_form not in ("exact", "released"):
            raise ConfigError(f"`kl_form` {self.kl_form!r}: expected 'exact' or 'released'")
        if self.text_kl_tokens not in ("instruction", "all"):
            raise ConfigError(f"`text_kl_tokens` {self.text_kl_tokens!r}: expected 'instruction' or 'all'")
        alpha_at(0, 1, self.alpha_schedule)  # validates the schedule name

    @property
    def uses_bottleneck(self) -> bool:
        return self.name in ("vittle-f", "vittle-l")

    @property
    def prior(self) -> Prior:
        return "learned" if self.name == "vittle-l" else "fixed"


def response_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token CE over labelled (response) positions; 0 with a gradient path if none."""
    import torch

    shifted = logits[:, :-1, :].float()
    targets = labels[:, 1:].to(shifted.device)
    total = torch.nn.functional.cross_entropy(
        shifted.reshape(-1, shifted.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    count = (targets != IGNORE_INDEX).sum().clamp(min=1)
    return total / count


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    ce: torch.Tensor
    kl_v: torch.Tensor | None
    kl_t: torch.Tensor | None


def objective_loss(
    logits: torch.Tensor, labels: torch.Tensor, config: ObjectiveConfig, handle: BottleneckHandle | None
) -> LossParts:
    """The loss of one forward pass; the KL terms come from the bottleneck hooks of that pass."""
    ce = response_cross_entropy(logits, labels)
    if handle is None or not config.uses_bottleneck:
        return LossParts(ce, ce, None, None)
    kl_v, kl_t = handle.kl("v"), handle.kl("t")
    total = ce + config.beta_v * kl_v.to(ce.dtype) + config.beta_t * kl_t.to(ce.dtype)
    return LossParts(total, ce, kl_v, kl_t)
