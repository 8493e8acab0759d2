"""Conventions every command follows: list options split alike, user errors end without a traceback."""

from pathlib import Path

import pytest

from typer.testing import CliRunner

from robustbench_mllm.cli import app
from robustbench_mllm.cli_conventions import split_names


def test_split_names_accepts_repeats_and_commas():
    assert split_names(["pope, lbcoco", "mme", " ,"]) == ("pope", "lbcoco", "mme")
    assert split_names(None) == ()


def test_represent_reports_missing_data_as_one_line(tmp_path: Path):
    missing = tmp_path / "nothing-here"
    result = CliRunner().invoke(
        app, ["represent", "--model", str(tmp_path), "--data", str(missing), "--datasets", "pope,mme",
              "--out", str(tmp_path / "run")],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 1
    assert "error:" in result.output and "no generated data" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, FileNotFoundError)


def test_judge_accepts_request_timeout_like_evaluate(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["judge", str(tmp_path), "--request-timeout", "5"], env={"COLUMNS": "300"})
    assert result.exit_code == 1 and "no API key" in result.output


def test_represent_on_a_missing_data_folder_does_not_pin_the_output_folder(tmp_path):
    from robustbench_mllm.runners.represent import RepresentConfig, run_represent

    config = RepresentConfig(model="some-model", data=tmp_path / "nowhere", out=tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no generated data"):
        run_represent(config, adapter_factory=lambda: None)
    assert not (tmp_path / "out" / "represent.json").exists()
