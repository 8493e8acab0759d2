"""The issue's finish line: the sample suite generated, evaluated by a tiny plain LLaVA and a tiny
Vittle, reported against the plain one, the HTML clean in Chromium, and the suite's dry-run
publication loading config by config."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from tests.fixtures.chromium import assert_page_clean
from tests.fixtures.tiny_llava import build_tiny_vittle

pytestmark = pytest.mark.slow


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_sample_suite_plain_vs_vittle_report_and_dry_run(tiny_llava_dir: Path, tmp_path: Path) -> None:
    import datasets

    generated = tmp_path / "generated"
    _ok(["generate", "--suite", "sample", "--perturbations", "frost", "--severity", "1,3", "--limit", "2",
         "--out", str(generated)])
    models = {"plain": tiny_llava_dir, "vittle": build_tiny_vittle(tiny_llava_dir, tmp_path / "vittle_model")}
    for name, model in models.items():
        _ok(["evaluate", "--model", str(model), "--data", str(generated), "--out", str(tmp_path / name),
             "--max-new-tokens", "4", "--device", "cpu"])
    out = tmp_path / "report"
    _ok(["report", str(tmp_path / "plain"), str(tmp_path / "vittle"), "--baseline", str(tmp_path / "plain"),
         "--out", str(out), "--resamples", "200"])
    with (out / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    pope = {(r["model"], r["variant"]) for r in rows
            if r["dataset"] == "sample_pope" and r["metric"] == "pope_accuracy"}
    labels = [model.name for model in models.values()]  # a run's label is its model folder's name
    assert pope == {(m, v) for m in labels for v in ("clean", "frost_s1", "frost_s3")}
    with (out / "paired.csv").open() as handle:
        assert {r["model"] for r in csv.DictReader(handle)} == {"vittle_model"}
    assert assert_page_clean(out / "report.html", tmp_path / "profile") > 0

    staged = tmp_path / "staged"
    _ok(["publish", str(generated), "--repo-id", "me/sample-shift", "--dry-run", str(staged)])
    loaded = datasets.load_dataset(str(staged), name="sample_pope-frost_s3", split="test",
                                   cache_dir=str(tmp_path / "cache"))
    assert set(loaded["variant"]) == {"frost_s3"}
