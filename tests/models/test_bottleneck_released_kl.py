"""The released code's KL (``kl_form="released"``), against the formulas of PROTOCOL_FACTS 6 written
out here: fixed prior -1/2 (1 + lv/2 - mu^2 - e^lv); learnable prior
-1/2 (1 + (lv - lv_p)/2 - (mu - mu_p)^2 / e^lv_p - e^lv / e^lv_p) with lv_p clamped in place to
[-2.3025, 2.3025]; the text KL against the VISUAL prior; posterior lv clamped on its values only."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from robustbench_mllm.models.bottleneck import BottleneckConfig, gaussian_kl, posterior  # noqa: E402
from robustbench_mllm.models.bottleneck_hooks import attach_bottleneck  # noqa: E402
from robustbench_mllm.models.llava_runtime import decoder_layers  # noqa: E402

CLAMP = 2.3025


def _released_fixed(mu: torch.Tensor, lv: torch.Tensor) -> torch.Tensor:
    return -0.5 * (1 + lv / 2 - mu**2 - lv.exp())


def _released_learned(mu: torch.Tensor, lv: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor) -> torch.Tensor:
    lv_p = lv_p.clamp(-CLAMP, CLAMP)
    return -0.5 * (1 + (lv - lv_p) / 2 - (mu - mu_p) ** 2 / lv_p.exp() - lv.exp() / lv_p.exp())


def test_elementwise_released_forms_follow_the_released_formulas() -> None:
    gen = torch.Generator().manual_seed(3)
    mu, lv = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen).clamp(-CLAMP, CLAMP)
    mu_p, lv_p = torch.randn(8, generator=gen), torch.randn(8, generator=gen).clamp(-CLAMP, CLAMP)
    torch.testing.assert_close(gaussian_kl(mu, lv, form="released"), _released_fixed(mu, lv))
    torch.testing.assert_close(gaussian_kl(mu, lv, mu_p, lv_p, form="released"), _released_learned(mu, lv, mu_p, lv_p))
    exact = 0.5 * (lv_p - lv - 1 + (lv.exp() + (mu - mu_p) ** 2) / lv_p.exp())
    torch.testing.assert_close(gaussian_kl(mu, lv, mu_p, lv_p, form="exact"), exact)
    # the difference issue 13 measured: the two forms disagree on the learnable prior
    assert (gaussian_kl(mu, lv, mu_p, lv_p, form="released").mean() - exact.mean()).abs() > 1e-3


def test_released_posterior_clamps_values_but_passes_the_gradient() -> None:
    mlp = torch.nn.Linear(4, 8)
    with torch.no_grad():
        mlp.weight.mul_(20)  # log-variances far outside the clamp range
    hidden = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for form, grad_outside in (("released", True), ("exact", False)):
        mu, lv = posterior(mlp, hidden, form)  # type: ignore[arg-type]
        raw = mlp(hidden).chunk(2, dim=-1)[1]
        torch.testing.assert_close(lv, raw.clamp(-CLAMP, CLAMP))
        grad = torch.autograd.grad(lv.sum(), hidden)[0]
        expected = torch.autograd.grad(raw.sum() if grad_outside else raw.clamp(-CLAMP, CLAMP).sum(), hidden)[0]
        torch.testing.assert_close(grad, expected)


def _captured_posteriors(model: torch.nn.Module, layer: int) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    decoder_layers(model)[layer].register_forward_hook(
        lambda _m, _a, out: seen.append((out[0] if isinstance(out, tuple) else out).detach())
    )
    return seen


@pytest.mark.parametrize("scale", [1.0, 6.0], ids=["inside-clamp", "outside-clamp"])
def test_learnable_prior_text_kl_uses_the_clamped_visual_prior(tiny_llava_dir: Path, scale: float) -> None:
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(tiny_llava_dir).train()
    raw_hidden = _captured_posteriors(model, 1)  # registered first: sees layer 1's un-mixed output
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=1, layer_t=1, prior="learned"))
    handle.kl_form = "released"
    handle.training_alpha = 0.5
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name in ("prior_mu_v", "prior_logvar_v", "prior_mu_t", "prior_logvar_t"):
            getattr(model.model, name).copy_(torch.randn(getattr(model.model, name).shape, generator=gen) * scale)
    prior_mu_v, prior_lv_v = model.model.prior_mu_v.detach().clone(), model.model.prior_logvar_v.detach().clone()
    config = model.config
    ids = torch.tensor([[1, 10, *([config.image_token_id] * config.image_seq_length), 11, 12, 13, 14]])
    labels = torch.full_like(ids, -100)
    labels[0, -2:] = ids[0, -2:]
    size = config.vision_config.image_size
    model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels,
          pixel_values=torch.randn(1, 3, size, size, generator=gen), use_cache=False)
    image = ids[0] == config.image_token_id
    text_kl_tokens = ~image & (labels[0] == -100)
    hidden = raw_hidden[0][0]
    with torch.no_grad():
        expected = {}
        for modality, selection in (("v", image), ("t", text_kl_tokens)):
            mu, lv = handle.mlp(modality)(hidden[selection]).chunk(2, dim=-1)
            lv = lv.clamp(-CLAMP, CLAMP)
            expected[modality] = _released_learned(mu, lv, prior_mu_v.reshape(-1), prior_lv_v.reshape(-1)).mean()
        for modality in ("v", "t"):
            assert handle.kl(modality).item() == pytest.approx(expected[modality].item(), rel=1e-5)
    # clamped in place, as the released code does; the text prior is left untouched
    torch.testing.assert_close(model.model.prior_logvar_v.detach(), prior_lv_v.clamp(-CLAMP, CLAMP))
    assert (prior_lv_v.abs() > CLAMP).any() == (scale > 1)
    assert model.model.prior_logvar_t.abs().max() > CLAMP or scale == 1.0


def test_fixed_prior_released_kl_through_the_hooks(tiny_llava_dir: Path) -> None:
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(tiny_llava_dir).train()
    raw_hidden = _captured_posteriors(model, 2)
    handle = attach_bottleneck(model, BottleneckConfig(layer_v=2, layer_t=2))
    handle.kl_form = "released"
    config = model.config
    ids = torch.tensor([[1, 10, *([config.image_token_id] * config.image_seq_length), 11, 12]])
    labels = torch.full_like(ids, -100)
    labels[0, -1] = ids[0, -1]
    size = config.vision_config.image_size
    model(input_ids=ids, labels=labels, pixel_values=torch.randn(1, 3, size, size), use_cache=False)
    image = ids[0] == config.image_token_id
    with torch.no_grad():
        mu, lv = handle.mlp("v")(raw_hidden[0][0][image]).chunk(2, dim=-1)
        expected = _released_fixed(mu, lv.clamp(-CLAMP, CLAMP)).mean()
    assert handle.kl("v").item() == pytest.approx(expected.item(), rel=1e-5)
