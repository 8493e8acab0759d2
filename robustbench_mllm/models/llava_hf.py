"""``llava-hf``: a transformers-native LLaVA folder (config model_type ``llava``)."""

from __future__ import annotations

from pathlib import Path

from robustbench_mllm.models.base import register_model
from robustbench_mllm.models.conversation import hf_chat_template, template_for
from robustbench_mllm.models.llava_runtime import LlavaRuntime, load_processor_and_model, runtime_description
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.models.preprocessing import resolve_pad_to_square
from robustbench_mllm.protocols import get_protocol


@register_model("llava-hf")
def load_llava_hf(model: str, options: LoadOptions) -> LlavaRuntime:
    """Transformers LLaVA folder (model_type llava); prompt and padding as the protocol says.

    ``vittle``: the released llava_v1 conversation and pad-to-square with the CLIP mean colour;
    ``canonical``: the checkpoint's chat template, no padding. ``--pad-to-square`` /
    ``--no-pad-to-square``, else the checkpoint's ``robust_mllm.json``, win over the protocol."""
    protocol = get_protocol(options.protocol)
    processor, network = load_processor_and_model(model, options.device, options.dtype)
    template = template_for(protocol, lambda: hf_chat_template(processor), options.system_prompt_file)
    pad = resolve_pad_to_square(Path(model), options.pad_to_square, adapter_default=protocol.pad_to_square)
    return LlavaRuntime(
        network, processor, format_prompt=template.render, pad_square=pad, released_tokens=template.released_tokens,
        description=runtime_description("llava-hf", model, network, template, pad, processor, protocol),
    )
