"""Conventions every command follows: list options split alike, user errors end without a traceback."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.cli.common import split_names


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
    assert result.exit_code == 2
    assert "error:" in result.output and "no generated data" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, FileNotFoundError)


def test_judge_accepts_request_timeout_like_evaluate(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["judge", str(tmp_path), "--request-timeout", "5"], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "no API key" in result.output


def test_represent_on_a_missing_data_folder_does_not_pin_the_output_folder(tmp_path):
    from robustbench_mllm.runners.represent import RepresentConfig, run_represent

    config = RepresentConfig(model="some-model", data=tmp_path / "nowhere", out=tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no generated data"):
        run_represent(config, adapter_factory=lambda: None)
    assert not (tmp_path / "out" / "represent.json").exists()


def _tiny_app(error: Exception):
    import typer

    from robustbench_mllm.cli.common import reported

    def command(batch_size: int = typer.Option(8), learning_rate: float = typer.Option(1.0, "--lr")) -> None:
        raise error

    app = typer.Typer()
    app.command()(reported(command))
    return app


@pytest.mark.parametrize("error, code", [
    ("ConfigError", 2), ("DataFormatError", 2), ("MissingResourceError", 2), ("UnknownNameError", 2),
    ("RemoteError", 1), ("FolderBusyError", 1),
])
def test_each_typed_error_ends_as_one_line_with_its_exit_code(error: str, code: int):
    from robustbench_mllm import errors

    raised = getattr(errors, error)("`batch_size` must be >= 1 and `learning_rate` > 0; `other` stays")
    result = CliRunner().invoke(_tiny_app(raised), [], env={"COLUMNS": "40"})
    assert result.exit_code == code
    lines = result.output.strip().splitlines()
    assert lines == ["error: --batch-size must be >= 1 and --lr > 0; `other` stays"]  # one line even at 40 columns
    assert not isinstance(result.exception, errors.RobustMllmError)


def test_typed_errors_still_are_the_builtins_library_callers_catch():
    from robustbench_mllm import errors

    assert issubclass(errors.DataFormatError, ValueError) and issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.MissingResourceError, FileNotFoundError)
    assert issubclass(errors.UnknownNameError, KeyError) and str(errors.UnknownNameError("no 'x'")) == "no 'x'"
    assert issubclass(errors.RemoteError, RuntimeError) and issubclass(errors.FolderBusyError, OSError)
