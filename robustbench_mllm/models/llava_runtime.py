"""Batched inference for a loaded HF ``LlavaForConditionalGeneration`` (shared by the LLaVA adapters).

The adapters differ only in how they load the model and format the prompt; encoding (left
padding + attention mask, so batched greedy answers equal batch-size-1 answers), generation and
hidden-state capture live here once. With ``released_tokens`` the prompt is tokenized as LLaVA's
``tokenizer_image_token`` does (the text on each side of ``<image>`` tokenized alone, the later
piece without its BOS), so the ids equal the released evaluation's whatever the tokenizer does
next to an added special token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.models.base import GenerationParams
from robustbench_mllm.models.conversation import IMAGE_PLACEHOLDER, PromptFormatter, PromptTemplate
from robustbench_mllm.protocols import Protocol
from robustbench_mllm.seeding import stable_seed

if TYPE_CHECKING:
    import torch


def decoder_layers(model: Any) -> Any:
    """The decoder's ``ModuleList`` across transformers versions (5.x: model.model.language_model)."""
    candidates = (
        ("model", "language_model", "layers"),  # transformers 5.x LlavaForConditionalGeneration
        ("language_model", "model", "layers"),  # transformers 4.x
        ("model", "layers"),  # a bare causal LM
    )
    for path in candidates:
        module = model
        for name in path:
            module = getattr(module, name, None)
            if module is None:
                break
        if module is not None:
            return module
    raise AttributeError(f"cannot find the decoder layers of {type(model).__name__}")


def layer_hidden(output: Any) -> torch.Tensor:
    """A decoder layer returns a tensor (transformers 5.x) or a tuple whose first item it is."""
    return output[0] if isinstance(output, tuple) else output


def validate_layer(model: Any, layer: int) -> int:
    count = len(decoder_layers(model))
    if not 0 <= layer < count:
        raise ConfigError(f"layer {layer} does not exist: this model has decoder layers 0..{count - 1}")
    return layer


def pad_to_square(image: Image.Image, color: tuple[int, int, int]) -> Image.Image:
    """Centre the image on a square canvas of ``color`` (the original LLaVA ``expand2square``)."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), color)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def processor_mean_colour(processor: Any) -> tuple[int, int, int]:
    """int(255 * mean) per channel, as LLaVA's ``process_images`` (CLIP's mean: (122, 116, 104))."""
    mean = getattr(processor.image_processor, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)
    return tuple(int(m * 255) for m in mean)  # type: ignore[return-value]


def runtime_description(
    adapter: str, model: str, network: Any, template: PromptTemplate, pad: bool, processor: Any,
    protocol: Protocol,
) -> dict[str, Any]:
    """What run.json records about a LLaVA adapter: the prompt template and padding it applies."""
    return {
        "adapter": adapter,
        "model": str(model),
        "dtype": str(next(network.parameters()).dtype).removeprefix("torch."),
        "protocol": protocol.name,
        **template.describe(),
        "pad_to_square": pad,
        **({"pad_colour": list(processor_mean_colour(processor))} if pad else {}),
    }


class LlavaRuntime:
    """Generation and hidden states for one loaded LLaVA model and its processor."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        format_prompt: PromptFormatter,
        pad_square: bool,
        description: dict[str, Any],
        released_tokens: bool = False,
    ) -> None:
        self.model = model
        self.processor = processor
        self.format_prompt = format_prompt
        self.pad_square = pad_square
        self.released_tokens = released_tokens
        self.description = description
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"  # generation continues from the last position
        self._pad_colour = processor_mean_colour(processor)
        self.image_token_id = int(model.config.image_token_id)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def encode(self, batch: Sequence[tuple[Image.Image, str]]) -> dict[str, torch.Tensor]:
        images = [img.convert("RGB") for img, _ in batch]
        if self.pad_square:
            images = [pad_to_square(img, self._pad_colour) for img in images]
        texts = [self.format_prompt(question) for _, question in batch]
        inputs = self.processor(images=images, text=texts, padding=True, return_tensors="pt")
        if self.released_tokens:
            inputs = {**inputs, **self.released_token_ids(texts, inputs["input_ids"])}
        dtype = next(self.model.parameters()).dtype
        encoded = {k: v.to(self.device) for k, v in inputs.items()}
        encoded["pixel_values"] = encoded["pixel_values"].to(dtype)
        return encoded

    def released_token_ids(self, texts: Sequence[str], processed: torch.Tensor) -> dict[str, torch.Tensor]:
        """Left-padded ids and mask of ``texts`` by ``tokenizer_image_token``, each placeholder
        expanded to as many image tokens as the processor gave it (``processed``)."""
        import torch

        bos = self.tokenizer.bos_token_id
        rows = []
        for text, image_tokens in zip(texts, (processed == self.image_token_id).sum(dim=1).tolist()):
            pieces = [self.tokenizer(piece).input_ids for piece in text.split(IMAGE_PLACEHOLDER)]
            per_image = image_tokens // max(len(pieces) - 1, 1)
            offset = 1 if pieces[0][:1] == [bos] else 0  # the first piece's BOS, kept once
            ids = pieces[0][:offset]
            for index, piece in enumerate(pieces):
                ids += ([self.image_token_id] * per_image if index else []) + piece[offset:]
            rows.append(ids)
        width = max(len(ids) for ids in rows)
        pad = self.tokenizer.pad_token_id
        return {
            "input_ids": torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows]),
            "attention_mask": torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows]),
        }

    def generate(self, batch: Sequence[tuple[Image.Image, str]], params: GenerationParams) -> list[str]:
        import torch

        if not batch:
            return []
        inputs = self.encode(batch)
        # greedy as the released scripts (num_beams 1 whatever the checkpoint's generation config says)
        sampling: dict[str, Any] = {"do_sample": False, "num_beams": 1}
        if params.temperature > 0:
            sampling = {"do_sample": True, "temperature": params.temperature, "num_beams": 1}
            torch.manual_seed(stable_seed("generate", *(q for _, q in batch)) % (2**63))
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=params.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                # an image placeholder is never a valid answer token (and for converted original
                # checkpoints its lm_head row is padding)
                suppress_tokens=[self.image_token_id],
                **sampling,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def hidden_states(self, batch: Sequence[tuple[Image.Image, str]], layer: int) -> np.ndarray:
        """(batch, hidden) output of decoder layer ``layer`` at the last input token (float32)."""
        import torch

        module = decoder_layers(self.model)[validate_layer(self.model, layer)]
        captured: list[torch.Tensor] = []

        def capture(_module: Any, _args: Any, output: Any) -> None:
            captured.append(layer_hidden(output)[:, -1, :].detach())

        handle = module.register_forward_hook(capture)
        try:
            with torch.inference_mode():
                self.model(**self.encode(batch))
        finally:
            handle.remove()
        return captured[0].float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return dict(self.description)


def load_processor_and_model(path: str, device: str, dtype: str) -> tuple[Any, Any]:
    """``AutoProcessor`` + ``LlavaForConditionalGeneration`` from a local folder, on ``device``."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from robustbench_mllm.models.options import resolve_device, resolve_dtype, without_loading_bars

    where = resolve_device(device)
    processor = AutoProcessor.from_pretrained(path)
    with without_loading_bars():
        model = LlavaForConditionalGeneration.from_pretrained(path, dtype=resolve_dtype(dtype, where))
    return processor, model.to(where).eval()
