"""CLUB, the contrastive log-ratio upper bound of mutual information (Cheng et al. 2020), as EMID
uses it: a Gaussian q(y | x) = N(mu(x), diag(exp(logvar(x)))) and

    CLUB(x, y) = mean_i [ -sum_k (mu_ik - y_ik)^2 / (2 e^{lv_ik})
                          + sum_k mean_j (y_jk - mu_ik)^2 / (2 e^{lv_ik}) ]

(the mean over j includes j = i, as in the official estimator). Networks have the official
shapes: mean net Linear(x, h)-Tanh-Linear(h, y), logvar net the same plus a final Tanh, h = 250
for 768-d embeddings; dimensions are configurable.

Training procedure (ours; the official optimiser settings are unpublished). Maximise the Gaussian
log-likelihood of y given x, i.e. minimise mean_i sum_k [(mu_ik - y_ik)^2 e^{-lv_ik} + lv_ik], with
Adam (lr 1e-3, no weight decay) on minibatches of 512 pairs (the official checkpoint suggests
2048; our evaluation sets are a few thousand pairs, so 512 gives more steps per epoch) for at
most 3000 steps. A seeded 10 % of the pairs is held out; every 50 steps the held-out loss is
measured and the best parameters are kept; training stops after 10 evaluations without
improvement (early stopping, best-of-validation as the official checkpoint name suggests).
Everything random (split, init, batches) comes from ``seed``. Saved as safetensors + JSON.

Scale note: the final Tanh keeps logvar in (-1, 1), i.e. variances of at least e^-1, while a
coordinate of an L2-normalised 768-d embedding varies by about 1/768; q therefore cannot be sharp
and CLUB values on such embeddings are small in absolute terms. We keep the official shape so the
numbers stay comparable with the paper's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_mllm.errors import ConfigError, DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import atomic_write_bytes, atomic_write_json, read_json
from robustbench_mllm.seeding import make_rng, stable_seed

WEIGHTS_FILE = "club.safetensors"
CONFIG_FILE = "club.json"


@dataclass(frozen=True)
class ClubShape:
    x_dim: int = 768
    y_dim: int = 768
    hidden: int = 250


@dataclass(frozen=True)
class ClubTraining:
    learning_rate: float = 1e-3
    batch_size: int = 512
    max_steps: int = 3000
    eval_every: int = 50
    patience: int = 10  # evaluations without held-out improvement before stopping
    validation_fraction: float = 0.1
    seed: int = 0


def club_value(mu: np.ndarray, logvar: np.ndarray, y: np.ndarray) -> float:
    """The CLUB formula above in float64, O(N d): mean_j (y_j - mu_i)^2 is expanded as
    mean(y^2) - 2 mu_i mean(y) + mu_i^2 instead of forming the N x N x d tensor."""
    mu, logvar, y = (np.asarray(v, dtype=np.float64) for v in (mu, logvar, y))
    inv_var = np.exp(-logvar) / 2.0
    positive = ((mu - y) ** 2 * inv_var).sum(1)
    spread = (y**2).mean(0)[None, :] - 2.0 * mu * y.mean(0)[None, :] + mu**2
    negative = (spread * inv_var).sum(1)
    return float((negative - positive).mean())


def networks(shape: ClubShape) -> Any:
    import torch

    def mlp(final_tanh: bool) -> torch.nn.Sequential:
        layers = [torch.nn.Linear(shape.x_dim, shape.hidden), torch.nn.Tanh(),
                  torch.nn.Linear(shape.hidden, shape.y_dim)]
        return torch.nn.Sequential(*layers, *([torch.nn.Tanh()] if final_tanh else []))

    return torch.nn.ModuleDict({"mean": mlp(False), "logvar": mlp(True)})


def _nll(nets: Any, x: Any, y: Any) -> Any:
    mu, logvar = nets["mean"](x), nets["logvar"](x)
    return (((mu - y) ** 2) * (-logvar).exp() + logvar).sum(1).mean()


@dataclass(frozen=True)
class ClubEstimator:
    """A trained q(y | x) with what produced it; ``value(x, y)`` is the CLUB estimate."""

    shape: ClubShape
    training: ClubTraining
    nets: Any  # torch ModuleDict {"mean", "logvar"}
    info: dict[str, Any]  # training log: steps, best held-out loss, data fingerprint

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.shape.x_dim:
            raise ConfigError(f"CLUB expects x of shape (n, {self.shape.x_dim}), got {x.shape}")
        with torch.no_grad():
            xt = torch.from_numpy(x)
            return self.nets["mean"](xt).double().numpy(), self.nets["logvar"](xt).double().numpy()

    def value(self, x: np.ndarray, y: np.ndarray) -> float:
        y = np.asarray(y)
        if y.shape != (len(x), self.shape.y_dim):
            raise ConfigError(f"CLUB expects y of shape ({len(x)}, {self.shape.y_dim}), got {y.shape}")
        mu, logvar = self.predict(x)
        return club_value(mu, logvar, y)

    def save(self, folder: Path) -> None:
        from safetensors.torch import save

        folder = Path(folder)
        tensors = {k: v.detach().contiguous() for k, v in self.nets.state_dict().items()}
        atomic_write_bytes(folder / WEIGHTS_FILE, save(tensors))
        atomic_write_json(folder / CONFIG_FILE, {
            "shape": asdict(self.shape), "training": asdict(self.training), "info": self.info,
        })

    @classmethod
    def load(cls, folder: Path) -> ClubEstimator:
        from safetensors.torch import load_file

        folder = Path(folder)
        config_path = folder / CONFIG_FILE
        if not config_path.exists() or not (folder / WEIGHTS_FILE).exists():
            raise MissingResourceError(f"{folder}: no CLUB estimator ({CONFIG_FILE} + {WEIGHTS_FILE})")
        config = read_json(config_path)
        try:
            shape = ClubShape(**config["shape"])
            training = ClubTraining(**config["training"])
        except (KeyError, TypeError) as exc:
            raise DataFormatError(f"{config_path}: bad estimator config ({exc})") from None
        nets = networks(shape)
        nets.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        nets.eval()
        return cls(shape, training, nets, dict(config.get("info", {})))


def data_fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    import hashlib

    digest = hashlib.sha256()
    for arr in (x, y):
        digest.update(np.ascontiguousarray(arr, dtype=np.float32).tobytes())
    return digest.hexdigest()


def train_club(
    x: np.ndarray, y: np.ndarray, shape: ClubShape | None = None, training: ClubTraining = ClubTraining()
) -> ClubEstimator:
    """Fit q(y | x) on paired rows by the procedure in the module docstring."""
    import torch

    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 4:
        raise ValueError(f"CLUB training needs paired (n, d) arrays with n >= 4, got {x.shape}, {y.shape}")
    shape = shape or ClubShape(x.shape[1], y.shape[1], ClubShape.hidden)
    order = make_rng(training.seed, "club-split", len(x)).permutation(len(x))
    n_val = max(1, int(round(training.validation_fraction * len(x))))
    val_idx, train_idx = order[:n_val], order[n_val:]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    x_val, y_val = xt[val_idx], yt[val_idx]

    torch.manual_seed(stable_seed(training.seed, "club-init") % (2**63))
    nets = networks(shape)
    optimiser = torch.optim.Adam(nets.parameters(), lr=training.learning_rate)
    batches = make_rng(training.seed, "club-batches", len(x))
    best_loss, best_state, best_step, stale, step = float("inf"), None, 0, 0, 0
    for step in range(1, training.max_steps + 1):
        batch = train_idx[batches.integers(0, len(train_idx), size=min(training.batch_size, len(train_idx)))]
        optimiser.zero_grad()
        loss = _nll(nets, xt[batch], yt[batch])
        loss.backward()
        optimiser.step()
        if step % training.eval_every == 0 or step == training.max_steps:
            with torch.no_grad():
                val_loss = float(_nll(nets, x_val, y_val))
            if val_loss < best_loss:
                best_loss, best_step, stale = val_loss, step, 0
                best_state = {k: v.detach().clone() for k, v in nets.state_dict().items()}
            else:
                stale += 1
                if stale >= training.patience:
                    break
    if best_state is not None:
        nets.load_state_dict(best_state)
    nets.eval()
    info = {"steps": step, "best_step": best_step, "best_validation_nll": best_loss,
            "n_train": int(len(train_idx)), "n_validation": int(n_val),
            "data_sha256": data_fingerprint(x, y)}
    return ClubEstimator(shape, training, nets, info)


def describe(estimator: ClubEstimator) -> dict[str, Any]:
    """What results files record about an estimator."""
    return json.loads(json.dumps({"shape": asdict(estimator.shape),
                                  "training": asdict(estimator.training), "info": estimator.info}))
