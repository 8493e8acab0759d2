"""Everything one training run needs, with the paper's defaults (REFERENCE section 5)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import ConfigError, MissingResourceError
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.models.bottleneck import BottleneckConfig, Compat
from robustbench_mllm.train.objective import DEFAULT_REGULARISING_WEIGHT_DECAY, ObjectiveConfig

# LLaVA-1.5's LoRA recipe: rank 128, scale 256, learning rate 2e-4
LORA_DEFAULT_LR = 2e-4
PAPER_LR = 2e-5
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
    base: Path
    data: Path
    out: Path
    images: Path | None = None
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    layer_v: int = 24
    layer_t: int = 24
    compat: Compat = "exact"
    deepspeed: Path | None = None
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float | None = None  # None: 2e-5 (2e-4 for lora)
    warmup_ratio: float = 0.03
    weight_decay: float | None = None  # None: 0 (0.1 for the weight-decay objective)
    batch_size: int = 16  # per device; 8 GPUs x 16 = the paper's global batch of 128
    grad_accum: int = 1
    max_length: int = 2048
    gradient_checkpointing: bool = True
    pad_square: bool = True
    save_steps: int = 500
    seed: int = 0
    lora_rank: int = 128
    lora_alpha: int = 256
    resume: bool = True

    def __post_init__(self) -> None:
        if self.objective.name == "lora" and zero_stage(self.deepspeed_config()) == 3:
            raise ConfigError("`objective` lora merges the adapter at the end: use ZeRO-2, not ZeRO-3")
        for name in ("batch_size", "grad_accum", "max_length", "save_steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"`{name}` must be positive, got {getattr(self, name)}")

    def deepspeed_config(self) -> str | None:
        return resolve_deepspeed(self.deepspeed)

    @property
    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return LORA_DEFAULT_LR if self.objective.name == "lora" else PAPER_LR

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

    def log_path(self) -> Path:
        return self.out / "train_log.jsonl"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()} | {
            "lr_effective": self.lr, "weight_decay_effective": self.wd
        }
