"""Vittle training cost on CPU: step time vittle-f vs baseline (target <= 1.3x), inference time with
the bottleneck vs without (target <= 1.05x), and the parameter overhead of the 7B model computed
from its configuration alone (paper: ~1.5%).

    /work/venv/bin/python benchmarks/bench_train.py [--steps 10] [--threads 1]

Times are measured on random LLaVA models of two depths with the same width: the 4-layer test
model and a 32-layer one (the depth of LLaVA-7B, where two bottleneck MLPs sit beside 32 decoder
layers, so the relative cost is closer to the real model's).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from robustbench_mllm.models.bottleneck import BottleneckConfig
from robustbench_mllm.models.bottleneck_hooks import attach_bottleneck
from robustbench_mllm.train.objective import ObjectiveConfig, objective_loss

IMAGE_TOKEN = 5


def llava_config(layers: int, hidden: int, vocab: int = 400, image: int = 64, patch: int = 8) -> LlavaConfig:
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                              num_attention_heads=4, image_size=image, patch_size=patch)
    text = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=int(hidden * 2.6875),
                       num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_id=IMAGE_TOKEN,
                       image_seq_length=(image // patch) ** 2)


def batch(config: LlavaConfig, size: int = 4, text: int = 96) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(10, config.text_config.vocab_size, (size, text), generator=gen)
    ids = torch.cat([ids[:, :8], torch.full((size, config.image_seq_length), IMAGE_TOKEN), ids[:, 8:]], dim=1)
    labels = ids.clone()
    labels[:, : ids.shape[1] - 32] = -100  # the last 32 tokens are the response
    image = config.vision_config.image_size
    return {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids),
            "pixel_values": torch.randn(size, 3, image, image, generator=gen)}


def paired_min(repeats: int, first: Callable[[], object], second: Callable[[], object]) -> tuple[float, float]:
    """Best-of-``repeats`` times of two actions, interleaved so load changes hit both alike."""
    first(), second()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for action, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            action()
            bucket.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def training_step(config: LlavaConfig, vittle: bool) -> Callable[[], None]:
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).train()
    objective = ObjectiveConfig(name="vittle-f" if vittle else "baseline")
    layer = config.text_config.num_hidden_layers * 3 // 4  # 24 of 32, as the paper
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=layer, layer_t=layer)) if vittle else None
    if handle is not None:
        handle.training_alpha = 0.25
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    inputs = batch(config)
    labels = inputs.pop("labels")

    def one_step() -> None:
        if handle is not None:
            handle.expect_labels(labels)
        logits = model(**inputs, use_cache=False).logits
        objective_loss(logits, labels, objective, handle).total.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    return one_step


def generation(config: LlavaConfig, vittle: bool) -> Callable[[], None]:
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    layer = config.text_config.num_hidden_layers * 3 // 4
    if vittle:
        attach_bottleneck(model, BottleneckConfig(layer_v=layer, layer_t=layer))
    inputs = batch(config, size=1)
    inputs.pop("labels")

    def generate() -> None:
        with torch.inference_mode():
            model.generate(**inputs, max_new_tokens=16, min_new_tokens=16, do_sample=False, pad_token_id=0)

    return generate


def parameter_overhead_7b() -> tuple[int, int]:
    """(base parameters, bottleneck parameters) of LLaVA-1.5-7B, from its configuration only."""
    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                              num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768)
    text = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32)
    config = LlavaConfig(vision_config=vision, text_config=text)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    base = sum(p.numel() for p in model.parameters())
    h = text.hidden_size
    bottleneck = 2 * (h * h + h + h * 2 * h + 2 * h)  # two modalities: Linear(h,h) + Linear(h,2h)
    return base, bottleneck


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed repeats per measurement (best of)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'model':<22}{'baseline s/step':>16}{'vittle-f s/step':>16}{'ratio':>8}"
          f"{'plain s/gen':>13}{'vittle s/gen':>14}{'ratio':>8}")
    for name, config in (("4 layers, h=64", llava_config(4, 64)), ("32 layers, h=64", llava_config(32, 64)),
                         ("32 layers, h=256", llava_config(32, 256))):
        base_step, vittle_step = paired_min(args.steps, training_step(config, False), training_step(config, True))
        base_gen, vittle_gen = paired_min(args.steps, generation(config, False), generation(config, True))
        print(f"{name:<22}{base_step:>16.4f}{vittle_step:>16.4f}{vittle_step / base_step:>8.3f}"
              f"{base_gen:>13.4f}{vittle_gen:>14.4f}{vittle_gen / base_gen:>8.3f}")
    base, extra = parameter_overhead_7b()
    print(f"\nLLaVA-1.5-7B parameters (from config): {base:,}; bottleneck (2 x (3h^2 + 3h), h=4096): "
          f"{extra:,} = {100 * extra / base:.2f}% (paper: ~1.5%); prior vectors (L): {4 * 4096:,}")


if __name__ == "__main__":
    main()
