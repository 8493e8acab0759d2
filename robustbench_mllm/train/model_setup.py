"""Load the LLaVA to train, choose what trains, attach the bottleneck or LoRA adapters.

As LLaVA-1.5: the vision tower is always frozen. ``pretrain`` trains the projector alone;
``finetune`` trains the projector and the language model (``lora``: rank-r adapters on the
language model's projections, the projector fully), plus the bottleneck for Vittle.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import ConfigError, DataFormatError, MissingResourceError
from robustbench_mllm.models.bottleneck_hooks import BottleneckHandle, attach_bottleneck
from robustbench_mllm.train.assemble import assemble_llava
from robustbench_mllm.train.options import TrainConfig

LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
PROJECTOR = "multi_modal_projector"


@dataclass
class TrainableModel:
    model: Any  # LlavaForConditionalGeneration, or a peft wrapper around it for lora
    processor: Any
    handle: BottleneckHandle | None
    folder: Path  # the HF LLaVA folder it was loaded from


def model_folder(options: TrainConfig) -> Path:
    """``base``, or the folder assembled from the parts (built once, see ``assemble.py``)."""
    if options.base is not None:
        if not (Path(options.base) / "config.json").exists():
            raise MissingResourceError(f"`base` {options.base}: no config.json (expected a HF LLaVA folder)")
        return Path(options.base)
    assert options.llm is not None and options.vision_tower is not None  # TrainConfig checked
    return assemble_llava(options.llm, options.vision_tower, options.projector, options.assembled_dir(), options.seed)


def processor_image_tokens(processor: Any) -> int:
    """How many ``<image>`` tokens the processor expands one image into."""
    from PIL import Image

    crop = getattr(processor.image_processor, "crop_size", None) or {"height": 336, "width": 336}
    image = Image.new("RGB", (int(crop["width"]), int(crop["height"])))
    encoded = processor(images=[image], text=[processor.image_token], return_tensors="pt")
    return int((encoded["input_ids"] == processor.image_token_id).sum())


def check_image_tokens(folder: Path, model_config: Any, processor: Any) -> None:
    """The trainer expands ``<image>`` by ``config.image_seq_length``, ``evaluate`` by the processor:
    they must agree, or training fails later with 'Image features and image tokens do not match'."""
    from_config = int(model_config.image_seq_length)
    from_processor = processor_image_tokens(processor)
    if from_config != from_processor:
        raise DataFormatError(
            f"{folder}: config.json image_seq_length is {from_config} but the processor expands <image> to "
            f"{from_processor} tokens (patch_size, num_additional_image_tokens, crop_size): make them agree"
        )


def check_layers(model_config: Any, options: TrainConfig) -> None:
    if not options.objective.uses_bottleneck:
        return
    count = int(model_config.text_config.num_hidden_layers)
    for name in ("layer_v", "layer_t"):
        value = getattr(options, name)
        if not 0 <= value < count:
            raise ConfigError(f"`{name}` {value} is outside this model's decoder layers 0..{count - 1}")


def build_trainable_model(options: TrainConfig) -> TrainableModel:
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    folder = model_folder(options)
    processor = AutoProcessor.from_pretrained(folder)
    # fp32 master weights; bf16 comes from mixed precision (autocast or DeepSpeed's bf16 mode)
    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    handle = None
    if options.stage == "pretrain":
        model.requires_grad_(False)
        getattr(model.model, PROJECTOR).requires_grad_(True)
    else:
        model.model.vision_tower.requires_grad_(False)
        keep_projector_in_graph(model)
    if options.objective.uses_bottleneck:
        handle = attach_bottleneck(model, options.bottleneck())
        handle.kl_form = options.objective.kl_form
        handle.text_kl_tokens = options.objective.text_kl_tokens
        if options.objective.kl_form == "released":  # the released KL never uses the text prior
            for param in handle.prior("t"):
                if param is not None:
                    param.requires_grad_(False)
    if options.objective.name == "lora":
        model = _wrap_lora(model, options)
    return TrainableModel(model, processor, handle, folder)


def keep_projector_in_graph(model: Any) -> None:
    """A text-only batch does not use the projector; DDP then fails (a trainable parameter without
    a gradient). As LLaVA appends a zero-sized slice of projected features to such samples, add
    0 x projector(a zero vector) to the token embeddings in training: no effect on any value, and
    the projector is in every step's graph. The projector is looked up at each call, so LoRA's
    trained copy of it (``modules_to_save``) is the one used."""
    import torch

    width = int(model.config.vision_config.hidden_size)

    def hook(module: Any, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if not module.training:
            return output
        probe = torch.zeros(1, width, dtype=output.dtype, device=output.device)
        return output + 0.0 * getattr(model.model, PROJECTOR)(probe).sum()

    model.get_input_embeddings().register_forward_hook(hook)


def _wrap_lora(model: Any, options: TrainConfig) -> Any:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MissingResourceError("`objective` lora needs peft: pip install 'robust-mllm[train]'") from None
    config = LoraConfig(
        r=options.lora_rank, lora_alpha=options.lora_alpha, lora_dropout=0.05,
        target_modules=LORA_TARGETS, modules_to_save=[PROJECTOR], task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft itself still reads transformers' deprecated `is_gradient_checkpointing`
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(model, config)


def exportable_model(model: Any) -> Any:
    """The plain LLaVA to save: LoRA adapters merged into the weights, otherwise the model itself."""
    merge = getattr(model, "merge_and_unload", None)
    return merge() if callable(merge) else model
