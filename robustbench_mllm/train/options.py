"""Everything one training run needs, with the paper's defaults per stage (PROTOCOL_FACTS 6).

- ``pretrain`` (Stage 1): a LLaVA assembled from ``llm`` + ``vision_tower`` (fresh projector),
  only the projector trains; template ``plain``, no image padding, lr 1e-3, 32 per device
  (8 GPUs: 256), recipe `deepspeed` zero2. Objective ``baseline`` only (Stage 1 has no bottleneck).
- ``finetune`` (Stage 2, the default): from ``base`` (a HF LLaVA folder) or assembled from
  ``llm`` + ``vision_tower`` + ``projector``; the vision tower stays frozen; template
  ``vicuna_v1``, images padded to square, modality-grouped batches, lr 2e-5 (LoRA: 2e-4 for the
  adapters, 2e-5 for the projector), 16 per device (8 GPUs: 128), recipe `deepspeed` zero3.
Both: 1 epoch, weight decay 0, warmup 3%, cosine, max length 2048, gradient checkpointing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from robustbench_mllm.errors import ConfigError, MissingResourceError
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.models.bottleneck import BottleneckConfig, Compat
from robustbench_mllm.train.objective import DEFAULT_REGULARISING_WEIGHT_DECAY, ObjectiveConfig
from robustbench_mllm.train.templates import TEMPLATES, TemplateName

Stage = Literal["pretrain", "finetune"]
STAGES: tuple[str, ...] = ("pretrain", "finetune")
PRETRAIN_LR = 1e-3
PAPER_LR = 2e-5
# LLaVA-1.5's LoRA recipe: rank 128, alpha 256, lr 2e-4 for the adapters, 2e-5 for the projector
LORA_DEFAULT_LR = 2e-4
LORA_PROJECTOR_LR = 2e-5
PER_DEVICE_BATCH = {"pretrain": 32, "finetune": 16}
DEEPSPEED_DIR = Path(__file__).parent / "deepspeed"


def resolve_deepspeed(value: Path | None) -> str | None:
    """A DeepSpeed config path, or a shipped config by name (``zero2`` / ``zero3``)."""
    if value is None:
        return None
    shipped = DEEPSPEED_DIR / f"{value}.json"
    if shipped.exists():
        return str(shipped)
    if not Path(value).is_file():
        raise MissingResourceError(f"`deepspeed` {value}: no such file (shipped: zero2, zero3)")
    return str(value)


def zero_stage(config_path: str | None) -> int:
    """The ZeRO stage of a DeepSpeed config (0 without one)."""
    if config_path is None:
        return 0
    return int(read_json(Path(config_path)).get("zero_optimization", {}).get("stage", 0))


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out: Path
    stage: Stage = "finetune"
    base: Path | None = None  # a HF LLaVA folder (finetune)
    llm: Path | None = None  # or the parts: causal LM, CLIP vision tower, Stage-1 projector file
    vision_tower: Path | None = None
    projector: Path | None = None
    images: Path | None = None
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    template: TemplateName | None = None  # None: plain (pretrain), vicuna_v1 (finetune)
    group_by_modality: bool | None = None  # None: on for finetune
    layer_v: int = 24
    layer_t: int = 24
    compat: Compat = "exact"
    deepspeed: Path | None = None
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs (and the released step rule)
    learning_rate: float | None = None  # None: the stage's / objective's default
    warmup_ratio: float = 0.03
    weight_decay: float | None = None  # None: 0 (0.1 for the weight-decay objective)
    batch_size: int | None = None  # per device; None: 32 (pretrain), 16 (finetune)
    grad_accum: int = 1
    max_length: int = 2048
    gradient_checkpointing: bool = True
    pad_square: bool | None = None  # None: off for pretrain (square crop), on for finetune (pad)
    save_steps: int = 500
    seed: int = 0
    lora_rank: int = 128
    lora_alpha: int = 256
    resume: bool = True

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(f"`stage` {self.stage!r}: expected one of {STAGES}")
        if self.template is not None and self.template not in TEMPLATES:
            raise ConfigError(f"`template` {self.template!r}: expected one of {TEMPLATES}")
        self._check_sources()
        if self.stage == "pretrain" and self.objective.name != "baseline":
            raise ConfigError(f"`stage` pretrain trains the projector alone: `objective` baseline, not {self.objective.name}")
        if self.objective.name == "lora" and zero_stage(self.deepspeed_config()) == 3:
            raise ConfigError("`objective` lora merges the adapter at the end: use ZeRO-2, not ZeRO-3")
        for name in ("grad_accum", "max_length", "save_steps", "per_device_batch"):
            if getattr(self, name) <= 0:
                shown = "batch_size" if name == "per_device_batch" else name
                raise ConfigError(f"`{shown}` must be positive, got {getattr(self, name)}")

    def _check_sources(self) -> None:
        parts = self.llm is not None or self.vision_tower is not None
        if self.base is not None and parts:
            raise ConfigError("give either `base` (a HF LLaVA folder) or `llm` + `vision_tower`, not both")
        if self.stage == "pretrain" and (self.base is not None or self.projector is not None):
            raise ConfigError("`stage` pretrain builds LLaVA from `llm` + `vision_tower` (no `base`, no `projector`)")
        if self.base is None and (self.llm is None or self.vision_tower is None):
            raise ConfigError("give `base` (a HF LLaVA folder), or `llm` and `vision_tower` (and `projector` for finetune)")
        if self.stage == "finetune" and parts and self.projector is None:
            raise ConfigError("`stage` finetune from `llm` + `vision_tower` needs the Stage-1 `projector` file")
        if self.base is not None and self.projector is not None:
            raise ConfigError("`projector` goes with `llm` + `vision_tower`; a `base` folder has its own")

    def deepspeed_config(self) -> str | None:
        return resolve_deepspeed(self.deepspeed)

    @property
    def per_device_batch(self) -> int:
        return self.batch_size if self.batch_size is not None else PER_DEVICE_BATCH[self.stage]

    @property
    def chat_template(self) -> TemplateName:
        if self.template is not None:
            return self.template
        return "plain" if self.stage == "pretrain" else "vicuna_v1"

    @property
    def modality_batches(self) -> bool:
        return self.group_by_modality if self.group_by_modality is not None else self.stage == "finetune"

    @property
    def pad(self) -> bool:
        return self.pad_square if self.pad_square is not None else self.stage == "finetune"

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        if self.stage == "pretrain":
            return PRETRAIN_LR
        return LORA_DEFAULT_LR if self.objective.name == "lora" else PAPER_LR

    @property
    def projector_lr(self) -> float | None:
        """The projector's own learning rate (LoRA), None when it follows ``lr``."""
        return LORA_PROJECTOR_LR if self.objective.name == "lora" else None

    @property
    def wd(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return DEFAULT_REGULARISING_WEIGHT_DECAY if self.objective.name == "weight-decay" else 0.0

    def bottleneck(self) -> BottleneckConfig:
        return BottleneckConfig(
            layer_v=self.layer_v, layer_t=self.layer_t, prior=self.objective.prior,
            compat=self.compat, seed=self.seed,  # type: ignore[arg-type]
        )

    def checkpoints_dir(self) -> Path:
        return self.out / "checkpoints"

    def assembled_dir(self) -> Path:
        return self.out / "assembled"

    def log_path(self) -> Path:
        return self.out / "train_log.jsonl"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()} | {
            "lr_effective": self.lr, "projector_lr_effective": self.projector_lr, "weight_decay_effective": self.wd,
            "batch_size_effective": self.per_device_batch, "template_effective": self.chat_template,
            "group_by_modality_effective": self.modality_batches, "pad_to_square_effective": self.pad,
        }
