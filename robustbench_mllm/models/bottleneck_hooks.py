"""Attach the Vittle bottleneck to a HF LLaVA model with hooks (no model subclass needed).

``attach_bottleneck(model, config)`` registers the two MLPs and the four prior vectors on the
model's inner ``model`` module (so ``model.state_dict()`` carries the released key names), and:

- a forward pre-hook on the outer model that captures ``labels`` (training only);
- a forward pre-hook on the inner module that derives, for this forward call, which positions are
  visual (``input_ids == image_token_id``, or the released positional split) and which text tokens
  enter the KL; decode steps of ``generate`` carry no image token, so all their positions are text;
- a forward hook after decoder layer ``layer_v`` / ``layer_t`` replacing h by (1 - a) h + a z, with
  z = mu (eval) or mu + std * eps (train; eps from a generator seeded by (seed, forward index,
  modality), so a gradient-checkpointing recompute draws the same noise).

In training the per-token KL is computed inside the hook, i.e. during the inner module's forward,
where ZeRO-3 has the prior vectors gathered; ``handle.kl(modality)`` averages it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.models.bottleneck import (
    IGNORE_INDEX,
    KEY_PREFIX,
    LOGVAR_MAX,
    LOGVAR_MIN,
    MODALITIES,
    RELEASED_KL_CAP,
    BottleneckConfig,
    KLForm,
    build_mlp,
    gaussian_kl,
    mlp_name,
    posterior,
    prior_names,
    weighted_token_mean,
)
from robustbench_mllm.models.llava_runtime import decoder_layers, layer_hidden
from robustbench_mllm.seeding import stable_seed

if TYPE_CHECKING:
    import torch


def _host(model: torch.nn.Module) -> torch.nn.Module:
    import torch

    inner = getattr(model, "model", None)
    return inner if isinstance(inner, torch.nn.Module) else model


@dataclass
class TokenKL:
    """Per-token KL of one modality for the last forward call (training only)."""

    per_token: torch.Tensor  # (N,) mean over the hidden dimension
    weight: torch.Tensor  # (N,) bool: tokens that enter the loss


class BottleneckHandle:
    """The attached bottleneck: its hooks, training knobs and the last forward's KL terms."""

    def __init__(self, model: torch.nn.Module, config: BottleneckConfig) -> None:
        import torch

        self.model = model
        self.config = config
        self.host = _host(model)
        self.image_token_id = int(model.config.image_token_id)
        hidden = int(model.config.text_config.hidden_size)
        layers = decoder_layers(model)
        for modality in MODALITIES:
            if not 0 <= config.layer(modality) < len(layers):
                raise ConfigError(
                    f"layer_{modality}={config.layer(modality)} outside 0..{len(layers) - 1}"
                )
        reference = next(layers[0].parameters())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stable_seed("vittle-init", config.seed) % 2**63)
            for modality in MODALITIES:
                mlp = build_mlp(hidden).to(device=reference.device, dtype=reference.dtype)
                mlp.train(model.training)  # follow the model's train/eval mode from the start
                self.host.add_module(mlp_name(modality), mlp)
                for name in prior_names(modality):
                    zeros = torch.zeros(1, 1, hidden, device=reference.device, dtype=reference.dtype)
                    param = torch.nn.Parameter(zeros, requires_grad=config.prior == "learned")
                    self.host.register_parameter(name, param)
        # training knobs, set by the trainer
        self.training_alpha = 0.0
        self.kl_form: KLForm = "exact"
        self.text_kl_tokens = "instruction"  # or "all": every non-pad text token
        self.last_kl: dict[str, TokenKL] = {}
        self._labels: torch.Tensor | None = None
        self._masks: dict[str, torch.Tensor] = {}
        self._kl_mask: torch.Tensor | None = None
        # counts forward calls; seeds the training noise (the trainer sets it per step, for resume)
        self.forward_index = 0
        self._hooks = [
            model.register_forward_pre_hook(self._capture_labels, with_kwargs=True),
            self.host.register_forward_pre_hook(self._prepare_masks, with_kwargs=True),
        ]
        for layer_index in sorted({config.layer_v, config.layer_t}):
            mods = tuple(m for m in MODALITIES if config.layer(m) == layer_index)
            self._hooks.append(layers[layer_index].register_forward_hook(self._mixer(mods)))

    # ---- public API ------------------------------------------------------------------------
    def mlp(self, modality: str) -> torch.nn.Module:
        return getattr(self.host, mlp_name(modality))

    def prior(self, modality: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The prior's (mu, logvar) vectors, or (None, None) for the fixed N(0, I)."""
        if self.config.prior == "fixed":
            return None, None
        mu_name, logvar_name = prior_names(modality)
        return getattr(self.host, mu_name), getattr(self.host, logvar_name)

    def kl_prior(self, modality: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The prior the KL of ``modality`` is taken against. ``kl_form="released"`` as the released
        code: both modalities against the VISUAL prior (the text prior is never used), whose
        log-variance is first clamped in place to [LOGVAR_MIN, LOGVAR_MAX]."""
        if self.kl_form != "released":
            return self.prior(modality)
        mu, logvar = self.prior("v")
        if logvar is not None:
            logvar.data.clamp_(LOGVAR_MIN, LOGVAR_MAX)
        return mu, logvar

    def parameters(self) -> list[torch.nn.Parameter]:
        params = [p for m in MODALITIES for p in self.mlp(m).parameters()]
        return params + [getattr(self.host, n) for m in MODALITIES for n in prior_names(m)]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The bottleneck tensors under their checkpoint names (``model.bottleneck_layer_v.0.weight``...)."""
        out = {}
        for modality in MODALITIES:
            for key, value in self.mlp(modality).state_dict().items():
                out[f"{KEY_PREFIX}{mlp_name(modality)}.{key}"] = value
            for name in prior_names(modality):
                out[f"{KEY_PREFIX}{name}"] = getattr(self.host, name).data
        return out

    def kl(self, modality: str) -> torch.Tensor:
        """Dimension-normalised KL of the last training forward (0 when no token was selected)."""
        if modality not in self.last_kl:
            raise RuntimeError("no KL recorded: run the model in train mode with labels first")
        term = self.last_kl[modality]
        kl = weighted_token_mean(term.per_token, term.weight)
        return kl.clamp(max=RELEASED_KL_CAP) if self.kl_form == "released" else kl

    def detach(self) -> None:
        """Remove the hooks and the bottleneck modules/parameters from the model."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        for modality in MODALITIES:
            delattr(self.host, mlp_name(modality))
            for name in prior_names(modality):
                delattr(self.host, name)

    # ---- hooks -----------------------------------------------------------------------------
    def expect_labels(self, labels: torch.Tensor) -> None:
        """Labels for the next forward call, for callers that compute the loss themselves and so
        pass no ``labels`` to the model (they decide which text tokens enter the text KL)."""
        self._labels = labels

    def _capture_labels(self, module: Any, args: tuple, kwargs: dict) -> None:
        if kwargs.get("labels") is not None:
            self._labels = kwargs["labels"]

    def _prepare_masks(self, module: Any, args: tuple, kwargs: dict) -> None:
        import torch

        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is not None:
            image = input_ids == self.image_token_id
        else:  # embeddings given: compare with the image token's embedding, as HF LLaVA does
            embeds = kwargs["inputs_embeds"]
            table = module.get_input_embeddings()
            token = table(torch.tensor(self.image_token_id, device=embeds.device))
            image = (embeds == token).all(-1)
        if self.config.compat == "released":
            # released split: the first seq_len - text_len positions of every row are "visual", where
            # text_len counts the image as one placeholder token: k = (image tokens per row) - 1
            count = (image.sum(dim=1).max() - 1).clamp(min=0)
            positions = torch.arange(image.shape[1], device=image.device)
            image = (positions < count).unsqueeze(0).expand_as(image)
        self._masks = {"v": image, "t": ~image}
        labels, self._labels = self._labels, None
        self._kl_mask = None if labels is None else self._text_kl_mask(labels, kwargs, image)
        self.forward_index += 1
        self.last_kl = {}

    def _text_kl_mask(self, labels: torch.Tensor, kwargs: dict, image: torch.Tensor) -> torch.Tensor:
        """Non-pad text tokens, and with ``text_kl_tokens="instruction"`` only non-response ones."""
        attention = kwargs.get("attention_mask")
        has_mask = attention is not None and attention.shape == image.shape
        not_pad = attention.bool() if has_mask else image.new_ones(image.shape)
        if self.text_kl_tokens == "instruction":
            return not_pad & (labels == IGNORE_INDEX)
        return not_pad

    def _mixer(self, modalities: tuple[str, ...]) -> Callable[..., Any]:
        def hook(layer: Any, args: tuple, output: Any) -> Any:
            hidden = layer_hidden(output)
            mixed = hidden
            for modality in modalities:
                selection = self._masks[modality]
                if self.mlp(modality).training:  # always run: the KL keeps a gradient path
                    mixed = mixed.clone() if mixed is hidden else mixed
                    mixed[selection] = self._train_mix(modality, hidden[selection], selection)
                elif bool(selection.all()):  # e.g. a cached decode step: no indexing needed
                    mixed = self._eval_mix(modality, hidden)
                elif bool(selection.any()):
                    mixed = mixed.clone() if mixed is hidden else mixed
                    mixed[selection] = self._eval_mix(modality, hidden[selection])
            return (mixed, *output[1:]) if isinstance(output, tuple) else mixed

        return hook

    def _eval_mix(self, modality: str, tokens: torch.Tensor) -> torch.Tensor:
        mu, _ = posterior(self.mlp(modality), tokens)
        return (1 - self.config.alpha) * tokens + self.config.alpha * mu

    def _train_mix(self, modality: str, tokens: torch.Tensor, selection: torch.Tensor) -> torch.Tensor:
        import torch

        mu, logvar = posterior(self.mlp(modality), tokens, self.kl_form)
        generator = torch.Generator(device=tokens.device)
        generator.manual_seed(stable_seed(self.config.seed, self.forward_index, modality) % 2**63)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + (0.5 * logvar).exp() * eps
        if self._kl_mask is not None:
            prior_mu, prior_logvar = self.kl_prior(modality)
            kl = gaussian_kl(mu, logvar, _flat(prior_mu), _flat(prior_logvar), self.kl_form)
            weight = torch.ones_like(selection[selection]) if modality == "v" else self._kl_mask[selection]
            self.last_kl[modality] = TokenKL(kl.mean(dim=-1), weight)
        a = self.training_alpha
        return (1 - a) * tokens + a * z


def _flat(vector: torch.Tensor | None) -> torch.Tensor | None:
    return None if vector is None else vector.reshape(-1)


def attach_bottleneck(model: torch.nn.Module, config: BottleneckConfig) -> BottleneckHandle:
    """Add the bottleneck to a HF ``LlavaForConditionalGeneration``; ``handle.detach()`` undoes it.
    Weights start freshly initialised (seeded); load trained ones with ``load_bottleneck_weights``."""
    return BottleneckHandle(model, config)
