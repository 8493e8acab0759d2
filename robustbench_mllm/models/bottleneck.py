"""The Vittle information bottleneck: configuration, KL terms and checkpoint files.

Shared by the trainer (``robustbench_mllm.train``) and the ``vittle`` model adapter. The hooks that
attach the bottleneck to a HF LLaVA model live in ``bottleneck_hooks.py``.

Parameter / checkpoint key names (relative to ``LlavaForConditionalGeneration``, the same as the
released Vittle code relative to ``LlavaLlamaForCausalLM``)::

    model.bottleneck_layer_v.0.{weight,bias}   Linear(h, h)     visual tokens
    model.bottleneck_layer_v.2.{weight,bias}   Linear(h, 2h)    -> (mu, logvar)
    model.bottleneck_layer_t.0.{weight,bias}   Linear(h, h)     text tokens
    model.bottleneck_layer_t.2.{weight,bias}   Linear(h, 2h)
    model.prior_mu_v, model.prior_logvar_v     (1, 1, h)  learnable prior, Vittle (L); zeros in (F)
    model.prior_mu_t, model.prior_logvar_t     (1, 1, h)

Checkpoint layout written by ``robust-mllm train`` (a folder ``OUT``), as the released code:

    OUT/config.json, OUT/model*.safetensors    a HF LLaVA whose state dict also holds the keys above
                                               (a plain ``from_pretrained`` ignores them with a warning)
    OUT/vittle_config.json                     ``BottleneckConfig`` as JSON (layers, alpha, prior...)

``load_bottleneck_weights`` reads the keys from such a folder (``model.safetensors`` or a sharded
``model.safetensors.index.json``), from a separate ``OUT/bottleneck.safetensors`` when present, or
from an in-memory state dict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from robustbench_mllm.errors import ConfigError, DataFormatError
from robustbench_mllm.io_utils import atomic_write_json

if TYPE_CHECKING:
    import torch

BOTTLENECK_FILE = "bottleneck.safetensors"
VITTLE_CONFIG_FILE = "vittle_config.json"
KEY_PREFIX = "model."
MODALITIES = ("v", "t")
IGNORE_INDEX = -100  # label of tokens without a loss (HF convention)
# variance clamped to [0.1, 10] as in the released code
LOGVAR_MIN, LOGVAR_MAX = -2.3025, 2.3025
# the released code caps each modality's mean KL here ("VIB loss explosion")
RELEASED_KL_CAP = 10000.0

KLForm = Literal["exact", "released"]
Compat = Literal["exact", "released"]  # image-token mask: exact, or the released positional split
Prior = Literal["fixed", "learned"]


def mlp_name(modality: str) -> str:
    return f"bottleneck_layer_{modality}"


def prior_names(modality: str) -> tuple[str, str]:
    return f"prior_mu_{modality}", f"prior_logvar_{modality}"


@dataclass(frozen=True)
class BottleneckConfig:
    """Where and how the bottleneck acts. ``compat="released"`` uses the released code's positional
    visual/text split instead of the exact image-token mask."""

    layer_v: int = 24
    layer_t: int = 24
    alpha: float = 0.5  # inference mixing weight: h <- (1 - alpha) h + alpha mu
    prior: Prior = "fixed"
    compat: Compat = "exact"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.prior not in ("fixed", "learned"):
            raise ConfigError(f"prior must be 'fixed' or 'learned', got {self.prior!r}")
        if self.compat not in ("exact", "released"):
            raise ConfigError(f"compat must be 'exact' or 'released', got {self.compat!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1], got {self.alpha}")

    def layer(self, modality: str) -> int:
        return self.layer_v if modality == "v" else self.layer_t

    def save(self, folder: Path) -> None:
        atomic_write_json(Path(folder) / VITTLE_CONFIG_FILE, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> BottleneckConfig:
        path = Path(folder) / VITTLE_CONFIG_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DataFormatError(f"{path}: unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def bottleneck_state_dict_keys(with_prior: bool = True) -> list[str]:
    """The checkpoint keys of the bottleneck (full names, ``model.`` prefix included)."""
    keys = [
        f"{KEY_PREFIX}{mlp_name(m)}.{i}.{p}" for m in MODALITIES for i in (0, 2) for p in ("weight", "bias")
    ]
    if with_prior:
        keys += [f"{KEY_PREFIX}{name}" for m in MODALITIES for name in prior_names(m)]
    return keys


def build_mlp(hidden: int) -> torch.nn.Sequential:
    """Linear(h, h) - GELU - Linear(h, 2h); the output splits into (mu, logvar)."""
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(hidden, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 2 * hidden)
    )


def posterior(
    mlp: torch.nn.Module, hidden: torch.Tensor, form: KLForm = "exact"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of the token posterior, logvar clamped to [LOGVAR_MIN, LOGVAR_MAX].

    ``form="released"`` clamps as the released code does (in place on ``.data``): the forward
    values are clamped, the gradient passes as if there were no clamp."""
    mu, logvar = mlp(hidden).chunk(2, dim=-1)
    clamped = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
    if form == "released":
        return mu, logvar + (clamped - logvar).detach()
    return mu, clamped


def gaussian_kl(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    prior_mu: torch.Tensor | None = None,
    prior_logvar: torch.Tensor | None = None,
    form: KLForm = "exact",
) -> torch.Tensor:
    """Element-wise KL(N(mu, e^logvar) || N(prior_mu, e^prior_logvar)); prior N(0, I) when None.

    exact:    0.5 (lv_p - lv - 1 + (e^lv + (mu - mu_p)^2) / e^lv_p)   (the closed form)
    released: 0.5 ((lv_p - lv) / 2 - 1 + (e^lv + (mu - mu_p)^2) / e^lv_p)
    The released code halves the log-variance difference (it writes log sigma where log sigma^2
    belongs): with the fixed prior that is the exact KL + logvar / 4 element-wise.
    """
    import torch

    prior_mu = torch.zeros_like(mu) if prior_mu is None else prior_mu
    prior_logvar = torch.zeros_like(logvar) if prior_logvar is None else prior_logvar
    log_ratio = prior_logvar - logvar
    if form == "released":
        log_ratio = log_ratio / 2
    ratio = (logvar.exp() + (mu - prior_mu) ** 2) / prior_logvar.exp()
    return 0.5 * (log_ratio - 1 + ratio)


def masked_mean_kl(
    mu: torch.Tensor,
    logvar: torch.Tensor,
    weight: torch.Tensor | None = None,
    prior_mu: torch.Tensor | None = None,
    prior_logvar: torch.Tensor | None = None,
    form: KLForm = "exact",
) -> torch.Tensor:
    """Dimension-normalised KL: mean over the hidden dimension and the selected tokens.

    ``mu``/``logvar`` are (N, h); ``weight`` an (N,) bool selection (all when None); prior vectors
    broadcast from (1, 1, h). With no token selected the result is an exact 0 that still carries
    a gradient path (the released code divides by zero and yields NaN here).
    """
    if prior_mu is not None:
        prior_mu = prior_mu.reshape(-1)
    if prior_logvar is not None:
        prior_logvar = prior_logvar.reshape(-1)
    per_token = gaussian_kl(mu, logvar, prior_mu, prior_logvar, form).mean(dim=-1)
    return weighted_token_mean(per_token, weight)


def weighted_token_mean(per_token: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``per_token`` over the ``weight``-selected tokens; 0 (with a gradient path) if none."""
    if weight is None:
        return per_token.mean() if per_token.numel() else per_token.sum()
    weight = weight.to(per_token.dtype)
    return (per_token * weight).sum() / weight.sum().clamp(min=1.0)


def read_bottleneck_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """The bottleneck tensors of a checkpoint folder, from either layout (see module docstring)."""
    from safetensors import safe_open

    folder = Path(folder)
    wanted = set(bottleneck_state_dict_keys())
    separate = folder / BOTTLENECK_FILE
    if separate.exists():
        files = [separate]
    else:
        index = folder / "model.safetensors.index.json"
        if index.exists():
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            files = sorted({folder / weight_map[k] for k in wanted if k in weight_map})
        else:
            files = sorted(folder.glob("*.safetensors"))
    found: dict[str, torch.Tensor] = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for key in wanted & set(handle.keys()):
                found[key] = handle.get_tensor(key)
    if not found:
        raise DataFormatError(
            f"{folder}: no bottleneck weights (expected {BOTTLENECK_FILE} or keys like "
            f"'{bottleneck_state_dict_keys()[0]}' in the model safetensors)"
        )
    return found


def load_bottleneck_weights(
    target: torch.nn.Module, source: Path | Mapping[str, torch.Tensor]
) -> list[str]:
    """Copy bottleneck weights into ``target`` (a LLaVA model with the bottleneck attached, or its
    inner ``model`` module); ``source`` is a checkpoint folder or a state dict (full names, or
    names without the ``model.`` prefix). Every MLP key must be present; a missing prior falls back
    to zeros (a Vittle (F) checkpoint). Returns the keys loaded."""
    import torch

    tensors = read_bottleneck_tensors(source) if isinstance(source, (str, Path)) else dict(source)
    tensors = {k.removeprefix(KEY_PREFIX): v for k, v in tensors.items()}
    host = target.model if isinstance(getattr(target, "model", None), torch.nn.Module) else target
    if not hasattr(host, mlp_name("v")):
        raise ValueError("attach the bottleneck (attach_bottleneck) before loading its weights")
    expected = [k.removeprefix(KEY_PREFIX) for k in bottleneck_state_dict_keys()]
    missing = [k for k in expected[:8] if k not in tensors]
    if missing:
        raise DataFormatError(f"bottleneck weights lack {missing}")
    loaded = []
    own = dict(host.named_parameters())
    with torch.no_grad():
        for key in expected:
            if key in tensors:
                if own[key].shape != tensors[key].shape:
                    raise DataFormatError(
                        f"bottleneck key {key}: shape {tuple(tensors[key].shape)} in the checkpoint, "
                        f"{tuple(own[key].shape)} in the model (hidden size differs?)"
                    )
                own[key].copy_(tensors[key].to(own[key].dtype))
                loaded.append(KEY_PREFIX + key)
            else:
                own[key].zero_()
    return loaded
