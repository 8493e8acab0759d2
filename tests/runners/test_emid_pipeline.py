"""EMID end to end: tiny random CLIP and XLM-R over a small generated set and a run folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robustbench_mllm.metrics.club import ClubEstimator, ClubTraining
from robustbench_mllm.runners.emid import EmidConfig, make_embedders, run_emid
from robustbench_mllm.store.results import load_results
from tests.fixtures.metric_runs import DATASET, YES_NO_DATASET, add_yes_no_dataset, write_generated, write_run

pytestmark = pytest.mark.slow


@pytest.fixture()
def run(tmp_path: Path) -> tuple[Path, Path]:
    data = write_generated(tmp_path / "generated")
    return write_run(tmp_path / "run", data), data


def _config(run_dir: Path, clip: Path, xlmr: Path, **kwargs: object) -> EmidConfig:
    """Trained on the run itself unless told otherwise (the tiny encoders are 32-d, the official
    estimator takes 768-d embeddings)."""
    training = ClubTraining(max_steps=60, eval_every=20, batch_size=32)
    kwargs.setdefault("train_on", (run_dir,))
    return EmidConfig(run_dir=run_dir, image_encoder=str(clip), text_encoder=str(xlmr),
                      permutations=5, training=training, **kwargs)  # type: ignore[arg-type]


def test_emid_end_to_end_and_cached_rerun(run: tuple[Path, Path], tiny_clip_dir: Path, tiny_xlmr_dir: Path) -> None:
    import torch

    torch.set_num_threads(1)
    run_dir, _ = run
    config = _config(run_dir, tiny_clip_dir, tiny_xlmr_dir)
    first = make_embedders(config, run_dir)
    payload = run_emid(config, first)
    assert first.forward_calls > 0
    rows = payload["datasets"][DATASET]
    assert set(rows) == {"clean", "gaussian_noise_s5", "char_typo_s5"}
    assert rows["clean"]["emid"] == 0.0
    for name in ("gaussian_noise_s5", "char_typo_s5"):
        row = rows[name]
        assert row["emid"] == pytest.approx(rows["clean"]["emi"] - row["emi"])
        assert 0 <= row["jsd_image"]["value"] <= np.log(2)
        d = [row[k]["value"] for k in ("jsd_image", "jsd_question", "jsd_answers_clean", "jsd_answers_variant")]
        assert row["bound"] == pytest.approx(d[0] ** 0.5 + d[1] ** 0.5 + d[2] ** 0.25 + d[3] ** 0.25)
    # only the text variant changes questions, only the visual one changes images
    assert rows["char_typo_s5"]["jsd_image"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert rows["char_typo_s5"]["jsd_question"]["value"] > rows["char_typo_s5"]["jsd_question"]["baseline"]
    assert rows["gaussian_noise_s5"]["jsd_question"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert rows["gaussian_noise_s5"]["jsd_image"]["value"] > rows["gaussian_noise_s5"]["jsd_image"]["baseline"]
    assert load_results(run_dir)["emid"] == json.loads(json.dumps(payload))
    assert list((run_dir / "embeddings").glob("*/shard-*.safetensors"))

    saved = run_dir / "emid" / "estimator" / "club.safetensors"
    stamp = saved.stat().st_mtime_ns
    second = make_embedders(config, run_dir)
    again = run_emid(config, second)
    assert second.forward_calls == 0  # everything came from RUN/embeddings
    assert saved.stat().st_mtime_ns == stamp  # the saved estimator was reused, not retrained
    assert again["datasets"] == payload["datasets"]

    from typer.testing import CliRunner

    from robustbench_mllm.cli.app import app

    result = CliRunner().invoke(app, ["emid", str(run_dir), "--image-encoder", str(tiny_clip_dir),
                                      "--text-encoder", str(tiny_xlmr_dir), "--permutations", "5",
                                      "--club-max-steps", "60", "--device", "cpu", "--train-on", str(run_dir)],
                             env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "char_typo_s5" in result.output and "EMID" in result.output
    assert load_results(run_dir)["emid"]["estimator"]["training"]["max_steps"] == 60


def test_saved_estimator_is_used_as_given(run: tuple[Path, Path], tiny_clip_dir: Path, tiny_xlmr_dir: Path,
                                          tmp_path: Path) -> None:
    run_dir, data = run
    trained = run_emid(_config(run_dir, tiny_clip_dir, tiny_xlmr_dir))
    other = write_run(tmp_path / "other", data)
    given = run_emid(_config(other, tiny_clip_dir, tiny_xlmr_dir,
                             estimator=run_dir / "emid" / "estimator"))
    assert given["datasets"] == trained["datasets"]  # same predictions, same estimator
    estimator = ClubEstimator.load(run_dir / "emid" / "estimator")
    assert estimator.shape.x_dim == 32  # the tiny encoders' width
    with pytest.raises(ValueError, match="CLUB expects x of shape"):
        estimator.value(np.zeros((3, 5)), np.zeros((3, 32)))


def test_train_on_other_runs(run: tuple[Path, Path], tiny_clip_dir: Path, tiny_xlmr_dir: Path, tmp_path: Path) -> None:
    run_dir, data = run
    other = write_run(tmp_path / "other", data)
    payload = run_emid(_config(run_dir, tiny_clip_dir, tiny_xlmr_dir, train_on=(other,)))
    assert payload["estimator"]["trained_on"] == [str(other)]
    assert list((other / "embeddings").glob("*/shard-*.safetensors"))  # the training run's own cache


def test_missing_reference_names_file_item_and_field(run: tuple[Path, Path], tiny_clip_dir: Path,
                                                     tiny_xlmr_dir: Path) -> None:
    from robustbench_mllm.errors import DataFormatError
    from robustbench_mllm.store.layout import variant_file
    from robustbench_mllm.store.variant_writer import write_rows
    from robustbench_mllm.store.variants import read_variant_rows

    run_dir, data = run
    path = variant_file(data, DATASET, "clean")
    rows = read_variant_rows(path)
    rows[4]["reference_answer"] = ""
    write_rows(path, rows)
    with pytest.raises(DataFormatError, match=r"clean/data.parquet: item '1-1': field 'reference_answer' is empty"):
        run_emid(_config(run_dir, tiny_clip_dir, tiny_xlmr_dir))


def test_scope_is_open_ended_datasets_unless_named(run: tuple[Path, Path], tiny_clip_dir: Path,
                                                   tiny_xlmr_dir: Path) -> None:
    from typer.testing import CliRunner

    from robustbench_mllm.cli.app import app

    run_dir, data = run
    add_yes_no_dataset(data, run_dir)
    payload = run_emid(_config(run_dir, tiny_clip_dir, tiny_xlmr_dir))
    assert set(payload["datasets"]) == {DATASET}
    assert (payload["dataset_scope"], payload["closed_form_datasets"]) == ("open_ended", [YES_NO_DATASET])
    info = payload["estimator"]["info"]
    assert info["n_train"] + info["n_validation"] == 2 * 18 * 3  # (answer, reference) pairs of DATASET only

    args = ["emid", str(run_dir), "--image-encoder", str(tiny_clip_dir), "--text-encoder", str(tiny_xlmr_dir),
            "--permutations", "5", "--club-max-steps", "60", "--device", "cpu", "--train-on", str(run_dir)]
    named = CliRunner().invoke(app, [*args, "--datasets", YES_NO_DATASET], env={"COLUMNS": "250"})
    assert named.exit_code == 0, named.output
    assert "warning" in named.output and "labels served as reference" in named.output
    section = load_results(run_dir)["emid"]
    assert set(section["datasets"]) == {YES_NO_DATASET} and section["dataset_scope"] == "named"
    assert section["estimator"]["info"]["n_train"] + section["estimator"]["info"]["n_validation"] == 2 * 8 * 2

    unknown = CliRunner().invoke(app, [*args, "--datasets", "lbcoco"], env={"COLUMNS": "250"})
    assert unknown.exit_code == 2
    assert "no predictions for --datasets lbcoco" in unknown.output and YES_NO_DATASET in unknown.output


def test_run_without_open_ended_data_says_how_to_name_one(tmp_path: Path, tiny_clip_dir: Path,
                                                         tiny_xlmr_dir: Path) -> None:
    from robustbench_mllm.io_utils import atomic_write_json

    data, run_dir = tmp_path / "generated", tmp_path / "run"
    add_yes_no_dataset(data, run_dir)
    atomic_write_json(run_dir / "run.json", {"model": "tiny", "data": str(data)})
    config = _config(run_dir, tiny_clip_dir, tiny_xlmr_dir)
    embedders = make_embedders(config, run_dir)
    with pytest.raises(ValueError, match=rf"no open-ended dataset \(yes/no: {YES_NO_DATASET}\).*`datasets`"):
        run_emid(config, embedders)
    assert embedders.forward_calls == 0  # decided from the items, before embedding anything


def test_vittle_uses_the_official_estimator_fetched_once(run: tuple[Path, Path], tiny_clip_dir: Path,
                                                         tiny_xlmr_dir: Path, tmp_path: Path) -> None:
    """The protocol's default: an official-format checkpoint (32-d here, the tiny encoders' width)
    from a local stand-in for the pinned URL; EMI equals the CLUB formula on those weights."""
    import hashlib
    from dataclasses import replace

    from robustbench_mllm.metrics.official_club import OFFICIAL_CLUB
    from tests.fixtures.file_server import FileServer
    from tests.metrics.test_official_club import club_from_weights, official_format_checkpoint

    run_dir, _ = run
    body, weights = official_format_checkpoint(tmp_path, dim=32, hidden=8)
    with FileServer({"/CLUB_global.pt": body}) as server:
        pinned = replace(OFFICIAL_CLUB, url=server.url("/CLUB_global.pt"), sha256=hashlib.sha256(body).hexdigest(),
                         size=len(body))
        config = _config(run_dir, tiny_clip_dir, tiny_xlmr_dir, train_on=(), official=pinned,
                         cache_dir=tmp_path / "cache")
        embedders = make_embedders(config, run_dir)
        payload = run_emid(config, embedders)
        assert server.requests == ["/CLUB_global.pt"]
    assert payload["protocol"]["name"] == "vittle"  # no manifest: the default protocol
    assert payload["estimator"]["origin"] == "official" and payload["estimator"]["path"] == pinned.url
    assert not (run_dir / "emid" / "estimator").exists()  # nothing trained
    from robustbench_mllm.runners.emid import embed_run

    clean = embed_run(run_dir, run_dir.parent / "generated", embedders).embeddings[DATASET]["clean"]
    expected = club_from_weights(weights, clean.joint, clean.answer) - club_from_weights(weights, clean.joint,
                                                                                         clean.reference)
    assert payload["datasets"][DATASET]["clean"]["emi"] == pytest.approx(expected, abs=1e-6)
    assert payload["bound_label"] == "input-space bound (Oh et al. 2025) on CLIP/XLM-R embeddings"
    shifted = [row["emid"] for name, row in payload["datasets"][DATASET].items() if name != "clean"]
    assert payload["mean_emid"][DATASET] == {"mean": pytest.approx(np.mean(shifted)), "n_variants": 2}


def test_canonical_trains_one_estimator_per_suite_and_every_run_reuses_it(
        run: tuple[Path, Path], tiny_clip_dir: Path, tiny_xlmr_dir: Path, tmp_path: Path) -> None:
    run_dir, data = run
    other = write_run(tmp_path / "other", data)
    first = run_emid(_config(run_dir, tiny_clip_dir, tiny_xlmr_dir, train_on=(), protocol="canonical"))
    saved = list((data / "estimator").glob("*/club.safetensors"))
    assert len(saved) == 1 and first["estimator"]["origin"] == "per_suite"
    assert first["estimator"]["info"]["n_train"] + first["estimator"]["info"]["n_validation"] == 18 * 3
    stamp = saved[0].stat().st_mtime_ns
    second = run_emid(_config(other, tiny_clip_dir, tiny_xlmr_dir, train_on=(), protocol="canonical"))
    assert saved[0].stat().st_mtime_ns == stamp and second["estimator"]["path"] == first["estimator"]["path"]
    assert second["estimator"]["info"] == first["estimator"]["info"]
    assert not (run_dir / "emid" / "estimator").exists() and not (other / "emid" / "estimator").exists()
