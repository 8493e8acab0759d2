"""``llava-original`` (and the ``ross`` / ``lit`` aliases): LLaVA-codebase checkpoints.

A ``llava_llama`` folder (config.json with ``mm_vision_tower``, ``mm_projector_type`` ...) is loaded
into the HF ``LlavaForConditionalGeneration`` by renaming its state-dict keys on load (the mapping
transformers documents for its LLaVA conversion). The CLIP tower comes from the checkpoint when it
carries ``model.vision_tower.vision_tower.*`` weights, else from a local CLIP folder
(``--vision-tower``, or ``mm_vision_tower`` when that is a local path); its config and image
processor are read from that folder. The prompt is the protocol's conversation (``vittle``: the
released evaluation's ``llava_v1``; ``canonical``: ``vicuna_v1``, the one LLaVA-1.5 was trained
with), and images are padded to a square with the CLIP mean colour (``image_aspect_ratio: pad``)
unless the checkpoint's ``robust_mllm.json`` or ``--no-pad-to-square`` says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.models.base import register_model
from robustbench_mllm.models.conversation import VICUNA_V1_SYSTEM, conversation_template, template_for
from robustbench_mllm.models.llava_runtime import LlavaRuntime, runtime_description
from robustbench_mllm.models.options import LoadOptions, resolve_device, resolve_dtype, without_loading_bars
from robustbench_mllm.models.preprocessing import resolve_pad_to_square
from robustbench_mllm.protocols import get_protocol

# LLaVA codebase key -> HF LlavaForConditionalGeneration key (regex, applied on load), for the
# module layout of transformers 5.x (checked in load_original_model)
KEY_MAPPING = {
    r"^model\.embed_tokens\.": "model.language_model.embed_tokens.",
    r"^model\.layers\.": "model.language_model.layers.",
    r"^model\.norm\.": "model.language_model.norm.",
    r"^model\.mm_projector\.0\.": "model.multi_modal_projector.linear_1.",
    r"^model\.mm_projector\.2\.": "model.multi_modal_projector.linear_2.",
    r"^model\.vision_tower\.vision_tower\.vision_model\.": "model.vision_tower.",
}
_TEXT_FIELDS = (
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "rms_norm_eps", "max_position_embeddings", "rope_theta", "hidden_act",
    "bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings",
)


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        raise DataFormatError(
            f"{path}: mm_projector_type {config['mm_projector_type']!r}; only mlp2x_gelu is supported"
        )
    return config


def _vision_folder(folder: Path, config: dict[str, Any], options: LoadOptions) -> Path:
    candidates = [options.vision_tower, config.get("mm_vision_tower")]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise MissingResourceError(
        f"{folder}/config.json: vision tower {config.get('mm_vision_tower')!r} is not a local folder; "
        "give a CLIP folder (with config.json and preprocessor_config.json) as `vision_tower`"
    )


def _has_vision_weights(folder: Path) -> bool:
    from safetensors import safe_open

    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            if any(k.startswith("model.vision_tower.vision_tower.") for k in handle.keys()):
                return True
    return False


def _tokenizer(folder: Path) -> Any:
    """The checkpoint's tokenizer with ``<image>`` added (LLaVA used a sentinel id instead)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if "<image>" not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token  # what LLaVA's vicuna_v1 training used
    return tokenizer


def hf_config(config: dict[str, Any], vision: Path, image_token_id: int) -> Any:
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision_config = CLIPVisionConfig.from_pretrained(vision)
    text = LlamaConfig(**{k: config[k] for k in _TEXT_FIELDS if k in config})
    return LlavaConfig(
        vision_config=vision_config,
        text_config=text,
        image_token_id=image_token_id,
        image_seq_length=(vision_config.image_size // vision_config.patch_size) ** 2,
        vision_feature_layer=config.get("mm_vision_select_layer", -2),
        vision_feature_select_strategy=(
            "default" if config.get("mm_vision_select_feature", "patch") == "patch" else "full"
        ),
        projector_hidden_act="gelu",
    )


def load_original_model(folder: Path, options: LoadOptions) -> tuple[Any, Any]:
    """(processor, HF LLaVA model) converted from a LLaVA-codebase folder."""
    import torch
    import transformers
    from transformers import CLIPImageProcessor, CLIPVisionModel, LlavaForConditionalGeneration, LlavaProcessor

    if int(transformers.__version__.split(".")[0]) < 5:
        raise MissingResourceError(f"llava-original needs transformers >= 5 (found {transformers.__version__})")
    config = _read_config(folder)
    vision = _vision_folder(folder, config, options)
    tokenizer = _tokenizer(folder)
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    with without_loading_bars():
        model = LlavaForConditionalGeneration.from_pretrained(
            folder, config=hf_config(config, vision, image_token_id), key_mapping=KEY_MAPPING, dtype=dtype
        )
    if not _has_vision_weights(folder):
        with without_loading_bars():
            tower = CLIPVisionModel.from_pretrained(vision, dtype=dtype)
        model.model.vision_tower.load_state_dict(tower.state_dict())
    if image_token_id >= model.config.text_config.vocab_size:
        # the placeholder's embedding is overwritten by image features and generate suppresses it,
        # so the padded rows never influence an answer
        model.resize_token_embeddings(image_token_id + 1, mean_resizing=False)
        with torch.no_grad():
            model.get_output_embeddings().weight[image_token_id:].zero_()
            model.get_input_embeddings().weight[image_token_id:].zero_()
    model.config.pad_token_id = tokenizer.pad_token_id
    size = model.config.vision_config.image_size
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor.from_pretrained(vision, crop_size={"height": size, "width": size}),
        tokenizer=tokenizer, patch_size=model.config.vision_config.patch_size,
        vision_feature_select_strategy=model.config.vision_feature_select_strategy,
        num_additional_image_tokens=1,
    )
    return processor, model.to(device).eval()


def load_llava_original(model: str, options: LoadOptions, name: str = "llava-original") -> LlavaRuntime:
    """The converted model with the protocol's conversation (or --system-prompt-file) and pad-to-square."""
    protocol = get_protocol(options.protocol)
    processor, network = load_original_model(Path(model), options)
    system_file = options.system_prompt_file
    template = template_for(
        protocol, lambda: conversation_template("vicuna_v1", VICUNA_V1_SYSTEM, system_file), system_file
    )
    # the original codebase pads (image_aspect_ratio "pad") under every protocol
    pad = resolve_pad_to_square(Path(model), options.pad_to_square, adapter_default=True)
    return LlavaRuntime(
        network, processor, format_prompt=template.render, pad_square=pad, released_tokens=template.released_tokens,
        description=runtime_description(name, model, network, template, pad, processor, protocol),
    )


def _register(name: str, doc: str) -> None:
    def load(model: str, options: LoadOptions) -> LlavaRuntime:
        return load_llava_original(model, options, name)

    load.__doc__ = doc
    register_model(name)(load)


_register(
    "llava-original",
    "LLaVA-codebase checkpoint (llava_llama), converted to HF on load; llava_v1 / vicuna_v1 prompt, pad-to-square.",
)
_register(
    "ross",
    "ROSS (llava_llama layout): its reconstruction heads exist only in training; inference = llava-original.",
)
_register(
    "lit",
    "LIT / L2T (LLaVA-1.5 architecture): only the training loss differs; inference = llava-original.",
)
