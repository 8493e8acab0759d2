"""CLUB against its closed form on correlated Gaussians, and a trained estimator's behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from robustbench_mllm.metrics.club import ClubEstimator, ClubShape, ClubTraining, club_value, train_club


def _correlated(rng: np.random.Generator, n: int, d: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((n, d))
    return x, rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((n, d))


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.8])
def test_club_with_exact_conditional_matches_closed_form(rho: float) -> None:
    rng = np.random.default_rng(int(rho * 10))
    n, d, reps = 100, 6, 300
    values = []
    for _ in range(reps):
        x, y = _correlated(rng, n, d, rho)
        values.append(club_value(rho * x, np.full_like(x, np.log(1 - rho**2)), y))
    expected = (1 - 1 / n) * d * rho**2 / (1 - rho**2)
    assert np.mean(values) == pytest.approx(expected, rel=0.05)


def test_club_value_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(7)
    mu, logvar, y = rng.standard_normal((9, 3)), rng.uniform(-1, 1, (9, 3)), rng.standard_normal((9, 3))
    inv = np.exp(-logvar) / 2
    positive = ((mu - y) ** 2 * inv).sum(1)
    negative = (((y[None, :, :] - mu[:, None, :]) ** 2).mean(1) * inv).sum(1)
    assert club_value(mu, logvar, y) == pytest.approx(float((negative - positive).mean()), rel=1e-12)


@pytest.fixture(scope="module")
def trained() -> dict[float, float]:
    """Trained CLUB on fresh test samples, for rho 0, 0.5, 0.8 (4-d, 200 steps each)."""
    import torch

    torch.set_num_threads(1)  # tiny networks: threads only add contention
    rng = np.random.default_rng(11)
    training = ClubTraining(learning_rate=1e-2, batch_size=128, max_steps=200, eval_every=25, seed=3)
    values = {}
    for rho in (0.0, 0.5, 0.8):
        x, y = _correlated(rng, 1000, 4, rho)
        estimator = train_club(x, y, ClubShape(4, 4, 16), training)
        values[rho] = estimator.value(*_correlated(rng, 2000, 4, rho))
    return values


@pytest.mark.slow
def test_trained_club_is_near_zero_without_dependence(trained: dict[float, float]) -> None:
    assert abs(trained[0.0]) < 0.05  # true MI 0; a rho = 0.5 pair scores 1.33 in closed form


@pytest.mark.slow
def test_trained_club_increases_with_correlation(trained: dict[float, float]) -> None:
    assert trained[0.0] < trained[0.5] < trained[0.8]
    assert trained[0.5] > -2 * np.log(1 - 0.5**2)  # above the true MI: an upper bound


def test_estimator_round_trips_through_safetensors(tmp_path) -> None:
    rng = np.random.default_rng(5)
    x, y = _correlated(rng, 200, 3, 0.5)
    estimator = train_club(x, y, ClubShape(3, 3, 8), ClubTraining(max_steps=20, eval_every=10))
    estimator.save(tmp_path / "est")
    assert not list((tmp_path / "est").glob("*.pt"))
    loaded = ClubEstimator.load(tmp_path / "est")
    assert loaded.shape == estimator.shape and loaded.training == estimator.training
    assert loaded.value(x, y) == estimator.value(x, y)
    again = train_club(x, y, ClubShape(3, 3, 8), ClubTraining(max_steps=20, eval_every=10))
    assert again.value(x, y) == estimator.value(x, y)  # seeded: split, init and batches


def test_official_network_shapes() -> None:
    estimator = train_club(np.zeros((8, 768)), np.zeros((8, 768)), training=ClubTraining(max_steps=1))
    shapes = {k: tuple(v.shape) for k, v in estimator.nets.state_dict().items()}
    assert shapes["mean.0.weight"] == (250, 768) and shapes["mean.2.weight"] == (768, 250)
    assert shapes["logvar.0.weight"] == (250, 768) and len(estimator.nets["logvar"]) == 4  # final Tanh
