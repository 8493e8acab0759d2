"""A HF LLaVA folder assembled from its parts: a causal LM, a CLIP vision tower and a projector.

LLaVA-1.5's architecture in transformers' terms (``LlavaConfig``): projector ``mlp2x_gelu``
(Linear - GELU - Linear), vision feature layer -2, CLS dropped (``vision_feature_select_strategy``
"default"), so an image becomes (image_size / patch_size)^2 tokens. The tokenizer gains an
``<image>`` token (the embedding matrix one row; its rows never reach the loss: image positions
take the projected features) and, when it has none, the unknown token as pad (as LLaVA's v1
recipe). The projector is fresh (seeded) for Stage 1, or read from a file: our Stage-1
``mm_projector.safetensors``, or LLaVA's released ``mm_projector.bin`` (read with
``torch.load(weights_only=True)``; keys ``model.mm_projector.{0,2}.*`` map to ``linear_{1,2}.*``).

The folder is written once, under a file lock (any process of a multi-GPU launch may build it; the
others wait and then load it), then every process loads it with ``from_pretrained`` as any HF
LLaVA, which keeps ZeRO-3's partitioned loading.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import atomic_write_json, read_json
from robustbench_mllm.models.conversation import IMAGE_PLACEHOLDER, VICUNA_V1_SYSTEM
from robustbench_mllm.seeding import stable_seed

if TYPE_CHECKING:
    import torch

PROJECTOR_FILE = "mm_projector.safetensors"
ASSEMBLY_RECORD = "assembled_from.json"
IMAGE_TOKEN = IMAGE_PLACEHOLDER
VISION_FEATURE_LAYER = -2
# v1 chat template with LLaVA's system message, so `apply_chat_template` gives the training prompt
V1_CHAT_TEMPLATE = (
    "{{ '" + VICUNA_V1_SYSTEM.replace("'", "\\'") + " ' }}"
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'USER: ' }}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{{ ' ' }}{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' }}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}"
    "{{ '</s>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
_RELEASED_KEY = re.compile(r"^(?:model\.)?mm_projector\.(0|2)\.(weight|bias)$")
_OUR_KEY = re.compile(r"^(?:.*multi_modal_projector\.)?(linear_[12])\.(weight|bias)$")


def read_projector(path: Path) -> dict[str, torch.Tensor]:
    """Projector tensors named ``linear_1.weight`` ... from our safetensors or LLaVA's ``.bin``."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise MissingResourceError(f"`projector` {path}: no such file")
    try:
        raw = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which
        raise DataFormatError(f"`projector` {path}: cannot read it ({type(exc).__name__}: {exc})") from None
    tensors = {}
    for key, value in raw.items():
        released, ours = _RELEASED_KEY.match(key), _OUR_KEY.match(key)
        if released:
            tensors[f"linear_{1 if released.group(1) == '0' else 2}.{released.group(2)}"] = value
        elif ours:
            tensors[f"{ours.group(1)}.{ours.group(2)}"] = value
    expected = {f"linear_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}
    if set(tensors) != expected:
        raise DataFormatError(
            f"`projector` {path}: expected the 4 mlp2x_gelu tensors (model.mm_projector.{{0,2}}.{{weight,bias}} or "
            f"linear_{{1,2}}.{{weight,bias}}), found {sorted(raw)[:6]}"
        )
    return tensors


def write_projector(model_folder: Path, path: Path) -> None:
    """The projector of a saved LLaVA folder as ``linear_{1,2}.{weight,bias}`` safetensors."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    tensors = {}
    for file in sorted(Path(model_folder).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                match = _OUR_KEY.match(key)
                if match and "multi_modal_projector." in key:
                    tensors[f"{match.group(1)}.{match.group(2)}"] = handle.get_tensor(key).contiguous()
    save_file(tensors, str(path), metadata={"format": "pt"})


def _require_folder(path: Path, setting: str) -> None:
    if not (Path(path) / "config.json").is_file():
        raise MissingResourceError(f"`{setting}` {path}: no config.json (expected a from_pretrained folder)")


def _tokenizer(llm: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(llm)
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token if tokenizer.unk_token is not None else tokenizer.eos_token
    return tokenizer


def _build(llm: Path, vision: Path, projector: Path | None, seed: int, dest: Path) -> None:
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForCausalLM,
        CLIPVisionConfig,
        CLIPVisionModel,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    tokenizer = _tokenizer(llm)
    try:
        image_processor = AutoImageProcessor.from_pretrained(vision)
    except OSError:
        raise MissingResourceError(f"`vision_tower` {vision}: no preprocessor_config.json (the CLIP image processor)") from None
    language = AutoModelForCausalLM.from_pretrained(llm, dtype="auto")
    dtype = next(language.parameters()).dtype
    vision_config = CLIPVisionConfig.from_pretrained(vision)
    tower = CLIPVisionModel.from_pretrained(vision, dtype=dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stable_seed("assemble", seed) % 2**63)
        if len(tokenizer) > language.get_input_embeddings().weight.shape[0]:
            language.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        config = LlavaConfig(
            vision_config=vision_config, text_config=language.config,
            image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), projector_hidden_act="gelu",
            vision_feature_layer=VISION_FEATURE_LAYER, vision_feature_select_strategy="default",
            image_seq_length=(vision_config.image_size // vision_config.patch_size) ** 2,
        )
        config.text_config.pad_token_id = tokenizer.pad_token_id
        head = LlavaMultiModalProjector(config).to(dtype)
    if projector is not None:
        tensors = read_projector(projector)
        own = head.state_dict()
        for key, value in tensors.items():
            if own[key].shape != value.shape:
                raise DataFormatError(
                    f"`projector` {projector}: {key} has shape {tuple(value.shape)}, the model needs {tuple(own[key].shape)}"
                )
        head.load_state_dict({k: v.to(dtype) for k, v in tensors.items()})
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.model.language_model = language.model
    model.lm_head = language.lm_head
    model.model.vision_tower = tower
    model.model.multi_modal_projector = head
    model.save_pretrained(dest)
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=vision_config.patch_size,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=V1_CHAT_TEMPLATE,
    )
    processor.save_pretrained(dest)


def assemble_llava(llm: Path, vision: Path, projector: Path | None, dest: Path, seed: int) -> Path:
    """``dest``: a HF LLaVA folder built from the parts (reused when built from the same parts)."""
    from filelock import FileLock

    _require_folder(llm, "llm")
    _require_folder(vision, "vision_tower")
    record = {"llm": str(llm), "vision_tower": str(vision), "projector": str(projector) if projector else None, "seed": seed}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest) + ".lock"):
        if (dest / ASSEMBLY_RECORD).is_file() and read_json(dest / ASSEMBLY_RECORD) == record:
            return dest
        partial = dest.with_name(dest.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)
        _build(Path(llm), Path(vision), projector, seed, partial)
        atomic_write_json(partial / ASSEMBLY_RECORD, record)
        partial.rename(dest)
    return dest
