"""``llava-hf``: a transformers-native LLaVA folder (config model_type ``llava``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustbench_mllm.models.base import register_model
from robustbench_mllm.models.llava_runtime import (
    LLAVA_HF_PROMPT,
    LlavaRuntime,
    PromptFormatter,
    load_processor_and_model,
)
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.models.preprocessing import resolve_pad_to_square


def chat_prompt_formatter(processor: Any) -> PromptFormatter:
    """The processor's chat template when it has one, else the LLaVA-1.5 HF prompt."""
    if getattr(processor, "chat_template", None):

        def render(question: str) -> str:
            conversation = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
            ]
            return processor.apply_chat_template(conversation, add_generation_prompt=True)

        return render
    return lambda question: LLAVA_HF_PROMPT.format(question=question)


@register_model("llava-hf")
def load_llava_hf(model: str, options: LoadOptions) -> LlavaRuntime:
    """Transformers LLaVA folder (model_type llava), its chat template; --pad-to-square as original.

    ``--pad-to-square`` reproduces the original LLaVA-1.5 preprocessing (CLIP mean colour); without
    the option, what the checkpoint's ``robust_mllm.json`` records, else no padding."""
    processor, network = load_processor_and_model(model, options.device, options.dtype)
    pad = resolve_pad_to_square(Path(model), options.pad_to_square, adapter_default=False)
    return LlavaRuntime(
        network,
        processor,
        format_prompt=chat_prompt_formatter(processor),
        pad_square=pad,
        description={
            "adapter": "llava-hf",
            "model": str(model),
            "dtype": str(next(network.parameters()).dtype).removeprefix("torch."),
            "pad_to_square": pad,
            "prompt": "chat_template" if getattr(processor, "chat_template", None) else LLAVA_HF_PROMPT,
        },
    )
