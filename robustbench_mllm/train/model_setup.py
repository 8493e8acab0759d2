"""Load the base LLaVA, choose what trains, attach the bottleneck or LoRA adapters.

As LLaVA-1.5's fine-tuning stage: the vision tower stays frozen; the projector and the language
model train (``lora``: rank-r adapters on the language model's projections, projector fully).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.models.bottleneck_hooks import BottleneckHandle, attach_bottleneck
from robustbench_mllm.train.options import TrainConfig

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass
class TrainableModel:
    model: Any  # LlavaForConditionalGeneration, or a peft wrapper around it for lora
    processor: Any
    handle: BottleneckHandle | None


def _vision_tower(model: Any) -> Any:
    inner = getattr(model, "model", None)
    return getattr(inner, "vision_tower", None) or model.vision_tower


def build_trainable_model(options: TrainConfig) -> TrainableModel:
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    base = Path(options.base)
    if not (base / "config.json").exists():
        raise MissingResourceError(f"`base` {base}: no config.json (expected a HF LLaVA folder)")
    processor = AutoProcessor.from_pretrained(base)
    # fp32 master weights; bf16 comes from mixed precision (autocast or DeepSpeed's bf16 mode)
    model = LlavaForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    _vision_tower(model).requires_grad_(False)
    handle = None
    if options.objective.uses_bottleneck:
        handle = attach_bottleneck(model, options.bottleneck())
        handle.kl_form = options.objective.kl_form
        handle.text_kl_tokens = options.objective.text_kl_tokens
    if options.objective.name == "lora":
        model = _wrap_lora(model, options)
    return TrainableModel(model, processor, handle)


def _wrap_lora(model: Any, options: TrainConfig) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise MissingResourceError("`objective` lora needs peft: pip install 'robust-mllm[train]'") from exc
    config = LoraConfig(
        r=options.lora_rank, lora_alpha=options.lora_alpha, lora_dropout=0.05,
        target_modules=LORA_TARGETS, modules_to_save=["multi_modal_projector"], task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def exportable_model(model: Any) -> Any:
    """The plain LLaVA to save: LoRA adapters merged into the weights, otherwise the model itself."""
    merge = getattr(model, "merge_and_unload", None)
    return merge() if callable(merge) else model
