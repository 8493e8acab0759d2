"""The official EMID estimator (Oh et al. 2025, mllmshift-emi ``estimator_ckpt/CLUB_global.pt``):
one CLUB network pretrained once and used for every model and every shift, so EMID values of
different models sit on one scale.

The checkpoint is fetched at run time from its pinned commit (size and sha256 checked, cached in
the user's cache folder; ``downloads.py``) or read from a local copy, loaded with
``torch.load(weights_only=True)`` (no pickle code runs), and its state dict is mapped onto our
module (``metrics/club.py``): ``p_mu.{0,2}`` -> ``mean.{0,2}``, ``p_logvar.{0,2}`` ->
``logvar.{0,2}`` (same Linear-Tanh-Linear(-Tanh) networks, same CLUB formula).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustbench_mllm.downloads import PinnedFile, fetch_pinned, verify_file
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.metrics.club import ClubEstimator, ClubShape, ClubTraining, networks

OFFICIAL_CLUB = PinnedFile(
    name="CLUB_global.pt",
    url="https://raw.githubusercontent.com/deeplearning-wisc/mllmshift-emi/80beb58f3911b8470973a96071226b09ed172893/"
        "estimator_ckpt/CLUB_global.pt",
    sha256="99ab062638de898356d087907b450d4cba755541eff49b877158c9b9b831b116",
    size=3_083_960,
    description="the official EMID estimator (CLUB_global.pt)",
)
OFFLINE_HINT = "give a local copy as `estimator` FILE, or train one per suite with `protocol` canonical"
# official name -> ours
KEY_MAP = {f"{theirs}.{layer}.{kind}": f"{ours}.{layer}.{kind}"
           for theirs, ours in (("p_mu", "mean"), ("p_logvar", "logvar")) for layer in (0, 2)
           for kind in ("weight", "bias")}


def map_state_dict(state: dict[str, Any], where: str) -> tuple[ClubShape, dict[str, Any]]:
    """Our module's shape and state dict from the official tensors (shapes checked against each other)."""
    missing = sorted(set(KEY_MAP) - set(state))
    extra = sorted(set(state) - set(KEY_MAP))
    if missing or extra:
        raise DataFormatError(f"{where}: not a CLUB state dict (missing {missing}, unexpected {extra})")
    hidden, x_dim = state["p_mu.0.weight"].shape
    y_dim = state["p_mu.2.weight"].shape[0]
    shape = ClubShape(int(x_dim), int(y_dim), int(hidden))
    per_layer: dict[str, tuple[int, ...]] = {"0.weight": (hidden, x_dim), "0.bias": (hidden,),
                                             "2.weight": (y_dim, hidden), "2.bias": (y_dim,)}
    expected = {f"{net}.{layer}": dims for net in ("p_mu", "p_logvar") for layer, dims in per_layer.items()}
    for key, dims in expected.items():
        if tuple(state[key].shape) != tuple(dims):
            raise DataFormatError(f"{where}: tensor {key} has shape {tuple(state[key].shape)}, expected {tuple(dims)}")
    return shape, {KEY_MAP[key]: tensor.float() for key, tensor in state.items()}


def load_official(path: Path, pinned: PinnedFile = OFFICIAL_CLUB) -> ClubEstimator:
    """A ``CLUB_global.pt``-format checkpoint as our estimator; ``info`` says where it came from."""
    import pickle

    import torch

    path = Path(path)
    try:
        # the released file's tensors were saved on a CUDA device: map them to the CPU
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as error:
        raise DataFormatError(f"{path}: not a torch checkpoint of tensors ({str(error).splitlines()[0]})") from None
    if not isinstance(state, dict):
        raise DataFormatError(f"{path}: expected a state dict, got {type(state).__name__}")
    shape, mapped = map_state_dict(state, str(path))
    nets = networks(shape)
    nets.load_state_dict(mapped)
    nets.eval()
    info = {"origin": "official", "file": str(path), "url": pinned.url, "is_pinned_file": verify_file(path, pinned)}
    return ClubEstimator(shape, ClubTraining(), nets, info)


def official_estimator(pinned: PinnedFile = OFFICIAL_CLUB, cache_dir: Path | None = None) -> ClubEstimator:
    """The pinned official estimator, downloaded once into the user's cache."""
    return load_official(fetch_pinned(pinned, cache_dir, OFFLINE_HINT), pinned)
