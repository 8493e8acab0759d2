"""The official EMID estimator: a checkpoint in CLUB_global.pt's format (names, shapes, archive root
from PROTOCOL_FACTS 5, random weights made here), served from a local stand-in for the pinned URL,
mapped onto our module; its readout must equal the CLUB formula computed here from those weights."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from robustbench_mllm.downloads import PinnedFile
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.metrics.official_club import OFFICIAL_CLUB, load_official, official_estimator
from tests.fixtures.file_server import FileServer

ARCHIVE_ROOT = "CLUB_retraining_seed1_bs2048_best"
SHAPES = {"p_mu.0.weight": (250, 768), "p_mu.0.bias": (250,), "p_mu.2.weight": (768, 250), "p_mu.2.bias": (768,),
          "p_logvar.0.weight": (250, 768), "p_logvar.0.bias": (250,), "p_logvar.2.weight": (768, 250),
          "p_logvar.2.bias": (768,)}


class NotTensors:
    """Pickled as an object: ``weights_only`` loading refuses to rebuild it."""


def official_format_checkpoint(folder: Path, dim: int = 768, hidden: int = 250, seed: int = 0) -> tuple[bytes, dict]:
    """torch.save of a state dict with the official names, written under the official archive root."""
    import torch

    rng = np.random.default_rng(seed)
    shapes = {k: tuple(dim if d == 768 else hidden if d == 250 else d for d in s) for k, s in SHAPES.items()}
    weights = {k: (rng.standard_normal(s) * (0.05 if k.endswith("weight") else 0.1)).astype(np.float32)
               for k, s in shapes.items()}
    path = folder / f"{ARCHIVE_ROOT}.pt"
    torch.save({k: torch.from_numpy(v) for k, v in weights.items()}, str(path))
    assert all(name.startswith(f"{ARCHIVE_ROOT}/") for name in zipfile.ZipFile(path).namelist())
    return path.read_bytes(), weights


def club_from_weights(w: dict, x: np.ndarray, y: np.ndarray) -> float:
    """mllmshift-emi's CLUB.forward, term by term: positive - negative over the whole set as one batch."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    mu = np.tanh(x @ w["p_mu.0.weight"].T + w["p_mu.0.bias"]) @ w["p_mu.2.weight"].T + w["p_mu.2.bias"]
    logvar = np.tanh(np.tanh(x @ w["p_logvar.0.weight"].T + w["p_logvar.0.bias"]) @ w["p_logvar.2.weight"].T
                     + w["p_logvar.2.bias"])
    positive = -((mu - y) ** 2) / 2.0 / np.exp(logvar)
    negative = -((y[None, :, :] - mu[:, None, :]) ** 2).mean(axis=1) / 2.0 / np.exp(logvar)
    return float((positive.sum(-1) - negative.sum(-1)).mean())


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_served_checkpoint_maps_onto_our_module_and_reads_out_the_club_formula(tmp_path: Path) -> None:
    body, weights = official_format_checkpoint(tmp_path)
    with FileServer({"/estimator_ckpt/CLUB_global.pt": body}) as server:
        pinned = replace(OFFICIAL_CLUB, url=server.url("/estimator_ckpt/CLUB_global.pt"),
                         sha256=hashlib.sha256(body).hexdigest(), size=len(body))
        estimator = official_estimator(pinned, tmp_path / "cache")
        again = official_estimator(pinned, tmp_path / "cache")
        assert server.requests == ["/estimator_ckpt/CLUB_global.pt"]  # the second load came from the cache
    assert (estimator.shape.x_dim, estimator.shape.y_dim, estimator.shape.hidden) == (768, 768, 250)
    assert estimator.info["origin"] == "official" and estimator.info["is_pinned_file"]
    rng = np.random.default_rng(1)
    z_v, z_t, y = _unit(rng, 40, 768), _unit(rng, 40, 768), _unit(rng, 40, 768)
    x = 0.5 * (z_v + z_t)
    # our networks run in float32 (as the official ones do), the formula here in float64
    assert estimator.value(x, y) == pytest.approx(club_from_weights(weights, x, y), abs=1e-7)
    assert again.value(x, y) == estimator.value(x, y)


def test_a_wrong_hash_or_size_is_refused_and_not_cached(tmp_path: Path) -> None:
    body, _ = official_format_checkpoint(tmp_path)
    with FileServer({"/CLUB_global.pt": body}) as server:
        wrong_size = replace(OFFICIAL_CLUB, url=server.url("/CLUB_global.pt"), sha256=hashlib.sha256(body).hexdigest(),
                             size=len(body) + 1)
        with pytest.raises(DataFormatError, match="refused") as refused:
            official_estimator(wrong_size, tmp_path / "cache")
        with pytest.raises(DataFormatError, match=r"sha256 .* expected 99ab062638de8983"):
            official_estimator(replace(OFFICIAL_CLUB, url=server.url("/CLUB_global.pt")), tmp_path / "cache")
    assert "\n" not in str(refused.value)
    assert not list((tmp_path / "cache").rglob("*.pt"))


def test_a_local_copy_is_read_with_weights_only_and_checked_for_the_official_names(tmp_path: Path) -> None:
    import torch

    body, _ = official_format_checkpoint(tmp_path, dim=16, hidden=6)
    local = tmp_path / "my_copy.pt"
    local.write_bytes(body)
    estimator = load_official(local)
    assert (estimator.shape.x_dim, estimator.shape.hidden) == (16, 6) and not estimator.info["is_pinned_file"]

    renamed = tmp_path / "renamed.pt"
    torch.save({"mu.0.weight": torch.zeros(2, 2)}, str(renamed))
    with pytest.raises(DataFormatError, match=r"not a CLUB state dict \(missing \['p_logvar.0.bias'"):
        load_official(renamed)

    pickled = tmp_path / "pickled.pt"
    torch.save({"obj": NotTensors()}, str(pickled))
    with pytest.raises(DataFormatError, match="not a torch checkpoint of tensors"):
        load_official(pickled)


def test_pinned_record_is_the_official_file() -> None:
    assert OFFICIAL_CLUB == PinnedFile(
        name="CLUB_global.pt",
        url="https://raw.githubusercontent.com/deeplearning-wisc/mllmshift-emi/80beb58f3911b8470973a96071226b09ed172893/"
            "estimator_ckpt/CLUB_global.pt",
        sha256="99ab062638de898356d087907b450d4cba755541eff49b877158c9b9b831b116", size=3_083_960,
        description=OFFICIAL_CLUB.description)
