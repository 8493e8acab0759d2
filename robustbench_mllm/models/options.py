"""What every adapter factory receives: the model reference plus loading options.

Factories are called as ``factory(model, options)``; ``model`` is a folder for local adapters
and a served model name for ``openai``. Options an adapter does not use are ignored by it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.models.bottleneck import Compat
from robustbench_mllm.protocols import DEFAULT_PROTOCOL, get_protocol


@contextmanager
def without_loading_bars() -> Iterator[None]:
    """transformers' own tqdm bars ("Loading weights") off while a model loads: our commands
    show their own progress, which the bars would interleave with."""
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()


@dataclass(frozen=True)
class LoadOptions:
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    # the protocol whose prompt template and image padding a LLaVA-family adapter applies
    # (``evaluate`` and ``represent`` set the one they resolved for the data)
    protocol: str = DEFAULT_PROTOCOL
    # Pad images to a square with the CLIP mean colour before the processor, as the original
    # LLaVA-1.5 did (image_aspect_ratio "pad"). None: the checkpoint's record, else the protocol's
    # and adapter's default.
    pad_to_square: bool | None = None
    # vittle: decoder layers of the visual / text bottleneck (None: the checkpoint's config, else 24)
    vittle_layer_v: int | None = None
    vittle_layer_t: int | None = None
    vittle_alpha: float | None = None
    compat: Compat = "exact"
    # llava-original: a local CLIP vision tower folder when the checkpoint lacks the tower weights
    vision_tower: Path | None = None
    # a text file replacing the system message of the llava_v1 / vicuna_v1 conversation
    system_prompt_file: Path | None = None
    # openai: server and concurrency (the key comes from the environment variable named here)
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.compat not in ("exact", "released"):
            raise ConfigError(f"`compat` {self.compat!r}: expected 'exact' or 'released'")
        get_protocol(self.protocol)  # an unknown name fails here, with close matches


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"`device` {device}: CUDA is not available on this machine")
    return device


def resolve_dtype(dtype: str, device: str) -> object:
    """A torch dtype; ``auto`` is bfloat16 on a GPU that supports it, else float32."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in choices:
        raise ConfigError(f"`dtype` {dtype!r}: expected auto or one of {sorted(choices)}")
    return choices[dtype]
