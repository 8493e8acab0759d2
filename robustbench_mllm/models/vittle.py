"""``vittle``: a LLaVA with the Vittle bottleneck attached at inference.

The base model loads as ``llava-hf`` (config model_type ``llava``) or ``llava-original``
(``llava_llama``, the released training code's layout); the bottleneck weights come from either
checkpoint layout (``bottleneck.safetensors`` beside the model, or ``model.bottleneck_layer_*`` keys
inside the model's safetensors; see ``models/bottleneck.py``). Vittle (F) and (L) load alike: the
(L) prior vectors are read but unused at inference. Prompt template, tokenization and image padding
follow the base adapter under the protocol (and so the checkpoint's ``robust_mllm.json`` when our
trainer made it). The shared hooks (``bottleneck_hooks.py``)
replace h by (1 - a) h + a mu after decoder layer l of each modality, on the prefill and on every
cached decode step (whose positions are all text tokens).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.models.base import register_model
from robustbench_mllm.models.bottleneck import (
    MODALITIES,
    VITTLE_CONFIG_FILE,
    BottleneckConfig,
    load_bottleneck_weights,
    prior_names,
)
from robustbench_mllm.models.llava_runtime import LlavaRuntime
from robustbench_mllm.models.options import LoadOptions


def bottleneck_config(folder: Path, options: LoadOptions) -> BottleneckConfig:
    """The checkpoint's ``vittle_config.json`` (defaults: layer 24, a = 0.5), then the options."""
    config = BottleneckConfig.load(folder) if (folder / VITTLE_CONFIG_FILE).is_file() else BottleneckConfig()
    overrides = {
        "layer_v": options.vittle_layer_v,
        "layer_t": options.vittle_layer_t,
        "alpha": options.vittle_alpha,
    }
    return replace(config, compat=options.compat, **{k: v for k, v in overrides.items() if v is not None})


def _learned_prior(folder: Path, host: object, config: BottleneckConfig) -> bool:
    """Vittle (L) or (F): what ``vittle_config.json`` says (our trainer saves zero-valued priors for
    (F) too); a checkpoint without it (the released layout) is (L) when its priors are non-zero."""
    if (folder / VITTLE_CONFIG_FILE).is_file():
        return config.prior == "learned"
    return any(getattr(host, n).abs().sum().item() > 0 for m in MODALITIES for n in prior_names(m))


@register_model("vittle")
def load_vittle(model: str, options: LoadOptions) -> LlavaRuntime:
    """Vittle (F or L): LLaVA + bottleneck at layer l (default 24), h <- (1-a) h + a mu, a = 0.5.

    ``--compat released`` uses the released code's positional visual/text split."""
    from robustbench_mllm.models.bottleneck_hooks import attach_bottleneck
    from robustbench_mllm.models.llava_hf import load_llava_hf
    from robustbench_mllm.models.llava_original import load_llava_original

    folder = Path(model)
    model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    base = (load_llava_original if model_type == "llava_llama" else load_llava_hf)(model, options)
    config = bottleneck_config(folder, options)
    try:
        handle = attach_bottleneck(base.model, config)  # validates the layers against the model
    except ValueError as exc:
        raise ConfigError(f"{folder}: {exc}; choose layers with `vittle_layer_v`/`vittle_layer_t`") from None
    load_bottleneck_weights(base.model, folder)
    base.model.eval()
    learned = _learned_prior(folder, handle.host, config)
    description = {
        **base.describe(),
        "adapter": "vittle",
        "base_adapter": base.describe()["adapter"],
        "bottleneck": {
            "layer_v": config.layer_v, "layer_t": config.layer_t, "alpha": config.alpha,
            "compat": config.compat, "variant": "L" if learned else "F",
        },
    }
    runtime = LlavaRuntime(
        base.model, base.processor, format_prompt=base.format_prompt, pad_square=base.pad_square,
        description=description, released_tokens=base.released_tokens,
    )
    runtime.bottleneck = handle  # type: ignore[attr-defined]  # keeps the hooks' owner alive
    return runtime
