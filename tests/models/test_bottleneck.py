"""The Vittle bottleneck: KL forms, hook placement and masks, generate with cache, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from robustbench_mllm.errors import DataFormatError  # noqa: E402
from robustbench_mllm.models.bottleneck import (  # noqa: E402
    BOTTLENECK_FILE,
    BottleneckConfig,
    bottleneck_state_dict_keys,
    gaussian_kl,
    load_bottleneck_weights,
    masked_mean_kl,
    posterior,
)
from robustbench_mllm.models.bottleneck_hooks import attach_bottleneck  # noqa: E402
from robustbench_mllm.models.llava_runtime import decoder_layers  # noqa: E402


def _load(path: Path) -> torch.nn.Module:
    from transformers import LlavaForConditionalGeneration

    return LlavaForConditionalGeneration.from_pretrained(path).eval()


def _batch(model: torch.nn.Module, text_only: bool = False) -> dict[str, torch.Tensor]:
    config = model.config
    n_image = config.image_seq_length
    image = [] if text_only else [config.image_token_id] * n_image
    ids = [config.text_config.bos_token_id, 10, 11, *image, 12, 13, 14, 15]
    batch = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    if not text_only:
        size = config.vision_config.image_size
        batch["pixel_values"] = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    return batch


def test_exact_kl_matches_hand_computed_values() -> None:
    mu, logvar = torch.tensor([1.0]), torch.tensor([math.log(2.0)])
    # N(1, 2) || N(0, 1): 0.5 * (2 + 1 - 1 - ln 2)
    assert gaussian_kl(mu, logvar).item() == pytest.approx(0.5 * (2 - math.log(2)), rel=1e-6)
    # N(1, 2) || N(0.5, 4): 0.5 * (ln 4 - ln 2 - 1 + (2 + 0.25) / 4)
    value = gaussian_kl(mu, logvar, torch.tensor([0.5]), torch.tensor([math.log(4.0)]))
    assert value.item() == pytest.approx(0.5 * (math.log(2) - 1 + 2.25 / 4), rel=1e-6)
    assert gaussian_kl(torch.zeros(3), torch.zeros(3)).abs().max().item() == 0.0


def test_released_kl_with_the_fixed_prior_is_exact_plus_quarter_mean_logvar() -> None:
    gen = torch.Generator().manual_seed(1)
    mu, logvar = torch.randn(7, 5, generator=gen), torch.randn(7, 5, generator=gen).clamp(-2.3, 2.3)
    exact = masked_mean_kl(mu, logvar, None, form="exact")
    released = masked_mean_kl(mu, logvar, None, form="released")
    assert released.item() == pytest.approx(exact.item() + 0.25 * logvar.mean().item(), abs=1e-6)


def test_kl_over_no_selected_token_is_zero_with_finite_gradient() -> None:
    mu = torch.randn(4, 3, requires_grad=True)
    kl = masked_mean_kl(mu, torch.zeros(4, 3), torch.zeros(4, dtype=torch.bool))
    kl.backward()
    assert kl.item() == 0.0 and torch.isfinite(mu.grad).all()
    empty = masked_mean_kl(torch.zeros(0, 3), torch.zeros(0, 3))
    assert empty.item() == 0.0


def test_attach_adds_released_key_names_and_detach_restores(tiny_llava_dir: Path) -> None:
    model = _load(tiny_llava_dir)
    before = set(model.state_dict())
    batch = _batch(model)
    with torch.no_grad():
        reference = model(**batch).logits
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=2))
    assert set(model.state_dict()) - before == set(bottleneck_state_dict_keys())
    assert set(handle.state_dict()) == set(bottleneck_state_dict_keys())
    with torch.no_grad():
        assert not torch.allclose(model(**batch).logits, reference)
    handle.detach()
    assert set(model.state_dict()) == before
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reference)


@pytest.mark.parametrize("layers", [(1, 1), (1, 2)])
def test_hook_mixes_each_modality_with_its_own_posterior_mean(tiny_llava_dir: Path, layers: tuple[int, int]) -> None:
    model = _load(tiny_llava_dir)
    seen: dict[int, list[torch.Tensor]] = {}

    def capture(index: int):
        def hook(layer, args, output):
            seen.setdefault(index, []).append(output[0] if isinstance(output, tuple) else output)
        return hook

    for index in set(layers):  # before attaching: sees the un-mixed output
        decoder_layers(model)[index].register_forward_hook(capture(index))
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=layers[0], layer_t=layers[1]))
    for index in set(layers):  # after: sees the mixed output
        decoder_layers(model)[index].register_forward_hook(capture(index))
    batch = _batch(model)
    with torch.no_grad():
        model(**batch)
        image = batch["input_ids"][0] == model.config.image_token_id
        for modality, layer, mask in (("v", layers[0], image), ("t", layers[1], ~image)):
            raw, mixed = seen[layer][0][0], seen[layer][1][0]
            mu, _ = posterior(handle.mlp(modality), raw[mask])
            torch.testing.assert_close(mixed[mask], 0.5 * raw[mask] + 0.5 * mu)


def test_generate_with_cache_equals_generate_without(tiny_llava_dir: Path) -> None:
    model = _load(tiny_llava_dir)
    attach_bottleneck(model, BottleneckConfig(layer_v=2, layer_t=2))
    batch = _batch(model)
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 3}
    with torch.no_grad():
        cached = model.generate(**batch, use_cache=True, **kwargs)
        uncached = model.generate(**batch, use_cache=False, **kwargs)
    assert cached.shape[1] > batch["input_ids"].shape[1]
    assert torch.equal(cached, uncached)


def test_released_compat_marks_the_first_positions_visual(tiny_llava_dir: Path) -> None:
    model = _load(tiny_llava_dir)
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=1, compat="released"))
    batch = _batch(model)
    with torch.no_grad():
        model(**batch)
    visual = handle._masks["v"][0]
    # seq_len - text_len, text_len counting the image as one placeholder (as the released code saw it)
    n_visual = model.config.image_seq_length - 1
    assert visual[:n_visual].all() and not visual[n_visual:].any()
    with torch.no_grad():
        model(**_batch(model, text_only=True))
    assert not handle._masks["v"].any()


def test_training_forward_on_text_only_batch_is_finite(tiny_llava_dir: Path) -> None:
    model = _load(tiny_llava_dir).train()
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=1, prior="learned"))
    handle.training_alpha = 0.3
    batch = _batch(model, text_only=True)
    labels = batch["input_ids"].clone()
    labels[:, :4] = -100
    out = model(**batch, labels=labels)
    loss = out.loss + 0.1 * handle.kl("v") + 0.1 * handle.kl("t")
    loss.backward()
    assert torch.isfinite(loss) and handle.kl("v").item() == 0.0 and handle.kl("t").item() > 0
    assert all(torch.isfinite(p.grad).all() for p in handle.parameters() if p.grad is not None)
    assert handle.prior("t")[0].grad is not None and handle.prior("t")[0].grad.abs().sum() > 0


@pytest.mark.parametrize("layout", ["separate", "full_state_dict", "mapping"])
def test_load_bottleneck_weights_from_each_layout(tiny_llava_dir: Path, tmp_path: Path, layout: str) -> None:
    config = BottleneckConfig(layer_v=2, layer_t=3, seed=7)
    trained = _load(tiny_llava_dir)
    handle = attach_bottleneck(trained, config)
    with torch.no_grad():
        for param in handle.parameters():
            param.add_(0.01)  # make the prior non-zero too
    if layout == "separate":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in handle.state_dict().items()}, str(tmp_path / BOTTLENECK_FILE))
        config.save(tmp_path)
        source: object = tmp_path
        assert BottleneckConfig.load(tmp_path) == config
    elif layout == "full_state_dict":
        trained.save_pretrained(tmp_path)
        assert not (tmp_path / BOTTLENECK_FILE).exists()
        source = tmp_path
    else:
        source = {k.removeprefix("model."): v for k, v in handle.state_dict().items()}
    fresh = _load(tiny_llava_dir)
    fresh_handle = attach_bottleneck(fresh, BottleneckConfig(layer_v=2, layer_t=3, seed=99))
    loaded = load_bottleneck_weights(fresh, source)
    assert sorted(loaded) == sorted(bottleneck_state_dict_keys())
    for key, value in handle.state_dict().items():
        assert torch.equal(fresh_handle.state_dict()[key], value), key
    batch = _batch(trained)
    with torch.no_grad():
        assert torch.equal(fresh(**batch).logits, trained.eval()(**batch).logits)


def test_load_bottleneck_weights_errors_name_the_problem(tiny_llava_dir: Path, tmp_path: Path) -> None:
    model = _load(tiny_llava_dir)
    with pytest.raises(ValueError, match="attach the bottleneck"):
        load_bottleneck_weights(model, {})
    attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=1))
    with pytest.raises(DataFormatError, match="no bottleneck weights"):
        load_bottleneck_weights(model, tiny_llava_dir)
    with pytest.raises(ValueError, match="layer_v=9"):
        attach_bottleneck(_load(tiny_llava_dir), BottleneckConfig(layer_v=9, layer_t=1))


def test_embeddings_input_finds_the_same_visual_positions(tiny_llava_dir: Path) -> None:
    model = _load(tiny_llava_dir)
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=1))
    batch = _batch(model)
    with torch.no_grad():
        by_ids = model(**batch).logits
        ids_mask = handle._masks["v"].clone()
        embeds = model.get_input_embeddings()(batch["input_ids"])
        by_embeds = model(inputs_embeds=embeds, pixel_values=batch["pixel_values"]).logits
    assert torch.equal(handle._masks["v"], ids_mask) and ids_mask.sum() == model.config.image_seq_length
    torch.testing.assert_close(by_embeds, by_ids)


@pytest.mark.parametrize(("tokens", "expected"), [("instruction", 3), ("all", 5)])
def test_text_kl_covers_instruction_or_all_non_pad_text_tokens(
    tiny_llava_dir: Path, tokens: str, expected: int
) -> None:
    model = _load(tiny_llava_dir).train()
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=1))
    handle.text_kl_tokens = tokens
    ids = torch.tensor([[1, 10, 11, 12, 13, 3, 3]])  # 5 text tokens, then 2 pads
    labels = torch.tensor([[-100, -100, -100, 12, 13, -100, -100]])
    model(input_ids=ids, attention_mask=torch.tensor([[1, 1, 1, 1, 1, 0, 0]]), labels=labels)
    assert int(handle.last_kl["t"].weight.sum()) == expected


def test_hook_accepts_tuple_layer_outputs_of_older_transformers(tiny_llava_dir: Path) -> None:
    model = _load(tiny_llava_dir)
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=1))
    batch = _batch(model)
    with torch.no_grad():
        model(**batch)  # prepares the masks of this input
        hidden = torch.randn(1, batch["input_ids"].shape[1], model.config.text_config.hidden_size)
        hook = handle._mixer(("v", "t"))
        as_tensor = hook(None, (), hidden)
        as_tuple = hook(None, (), (hidden, "cache"))
    assert isinstance(as_tuple, tuple) and as_tuple[1] == "cache"
    assert torch.equal(as_tuple[0], as_tensor) and not torch.equal(as_tensor, hidden)
