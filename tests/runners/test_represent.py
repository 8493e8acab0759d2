"""represent end to end on the tiny LLaVA: stored states, resume, JSD, distances and PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_mllm.metrics.distances import paired_cosine_distances, pca_2d
from robustbench_mllm.runners.represent import RepresentConfig, run_represent
from robustbench_mllm.store.hidden_states import load_states, states_file
from robustbench_mllm.store.results import load_results
from tests.fixtures.metric_runs import DATASET, write_generated

pytestmark = pytest.mark.slow


def test_represent_end_to_end_and_resume(tiny_llava_dir: Path, tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    data = write_generated(tmp_path / "generated", n_images=3)
    config = RepresentConfig(model=str(tiny_llava_dir), data=data, out=tmp_path / "run", layer=2,
                             batch_size=4, permutations=5, device="cpu")
    loads: list[int] = []

    def factory() -> object:
        from robustbench_mllm.models.detect import load_adapter
        from robustbench_mllm.models.options import LoadOptions

        loads.append(1)
        return load_adapter(config.model, LoadOptions(device="cpu"))

    payload = run_represent(config, factory)
    assert loads == [1]
    clean = load_states(states_file(config.out, 2, DATASET, "clean"))
    assert clean.states.shape == (9, 64) and clean.ids[0] == "0-0"  # tiny LLaVA hidden size 64
    rows = payload["datasets"][DATASET]
    assert set(rows) == {"gaussian_noise_s5", "char_typo_s5"}
    for variant, row in rows.items():
        shifted = load_states(states_file(config.out, 2, DATASET, variant))
        expected = paired_cosine_distances(clean.states, shifted.states).mean()
        assert row["cosine_distance"]["mean"] == pytest.approx(expected)
        assert row["cosine_distance"]["mean"] > 0  # the perturbation moved the states
        for kind in ("linear", "gaussian"):
            assert 0 <= row["jsd"][kind]["value"] <= np.log(2)
    for files in payload["plots"].values():
        for png in files.values():
            with Image.open(png) as image:
                assert image.format == "PNG" and image.size[0] > 300
    assert load_results(config.out)["represent"]["layer"] == 2

    again = run_represent(config, factory)  # every variant is stored: no model load
    assert loads == [1] and again["datasets"] == payload["datasets"]

    from typer.testing import CliRunner

    from robustbench_mllm.cli.app import app

    result = CliRunner().invoke(app, ["represent", "--model", str(tiny_llava_dir), "--data", str(data),
                                      "--layer", "2", "--out", str(config.out), "--permutations", "5",
                                      "--device", "cpu"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "gaussian_noise_s5" in result.output and "pca_layer2.png" in result.output


def test_paired_cosine_distance_and_pca_closed_forms() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[0.0, 3.0], [0.0, -1.0]])
    np.testing.assert_allclose(paired_cosine_distances(a, b), [1.0, 2.0])
    rng = np.random.default_rng(0)
    line = np.outer(rng.standard_normal(20), [3.0, 4.0, 0.0]) / 5.0  # points on one direction
    (projected,), explained = pca_2d(line)
    assert explained[0] == pytest.approx(1.0)
    np.testing.assert_allclose(np.abs(projected[:, 0]), np.abs(line @ [0.6, 0.8, 0.0] - (line @ [0.6, 0.8, 0.0]).mean()))
