"""Conventions of the ecosystem: -h, shell completion, --debug, tables readable off a terminal,
and a pyproject setuptools does not warn about."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli import common
from robustbench_mllm.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def test_h_is_help_and_shell_completion_is_offered() -> None:
    short, long = (CliRunner().invoke(app, [flag], env={"COLUMNS": "120"}) for flag in ("-h", "--help"))
    assert short.exit_code == long.exit_code == 0 and short.stdout == long.stdout
    assert "--install-completion" in short.stdout and "--show-completion" in short.stdout


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path: Path, how: str) -> None:
    args = ["generate", "--suite", "nope", "--out", str(tmp_path / "g")]
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 2 and "Traceback" not in plain.stderr
    debug = CliRunner().invoke(app, args + ["--debug"] if how == "flag" else args, env={
        "ROBUST_MLLM_DEBUG": "1" if how == "env" else None})
    assert debug.exit_code == 2
    assert "Traceback (most recent call last)" in debug.stderr and "ConfigError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()  # the same one line, last


def test_an_unexpected_error_is_one_line_asking_for_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    from robustbench_mllm import registry

    def broken(name: str) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(registry, "load_registry", broken)
    result = CliRunner().invoke(app, ["list", "models"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: unexpected ZeroDivisionError: division by zero",
        "this is a bug: rerun with --debug (or ROBUST_MLLM_DEBUG=1) and report the traceback"]
    debug = CliRunner().invoke(app, ["list", "models", "--debug"])
    assert debug.exit_code == 1 and "ZeroDivisionError" in debug.stderr and "Traceback" in debug.stderr


def test_tables_off_a_terminal_use_a_wide_fixed_width(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["list", "perturbations"], env={"COLUMNS": None})
    assert result.exit_code == 0
    assert common.console.width == common.UNCONSTRAINED_WIDTH  # CliRunner's stdout is no terminal
    import rich

    assert rich.get_console().width == common.UNCONSTRAINED_WIDTH  # the runners' progress bars use it
    assert "…" not in result.stdout
    assert any("frost_weight=0.75" in line for line in result.stdout.splitlines())  # never folded
    monkeypatch.setenv("COLUMNS", "123")
    common.fit_console_width()
    assert common.console.width == 123  # a terminal's (or $COLUMNS') width wins


def test_list_perturbations_is_readable_at_80_columns() -> None:
    from robustbench_mllm.registry import load_registry

    result = CliRunner().invoke(app, ["list", "perturbations"], env={"COLUMNS": "80"})
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and max(len(line) for line in lines) <= 80 and "…" not in result.stdout
    names = load_registry("perturbations").names()
    for name in names:  # each name whole on its first row, then one row per severity
        row = next(line for line in lines if f"│ {name} " in line)
        assert row.split("│")[4].strip() == "1"
    severity_rows = [line for line in lines if line.startswith("│") and line.split("│")[4].strip() in "12345"
                     and line.split("│")[4].strip()]
    assert len(severity_rows) == 5 * len(names)


def test_pyproject_uses_the_spdx_license_string() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"  # the table form is deprecated by setuptools >= 77
    assert "setuptools>=77" in project["build-system"]["requires"][0]


def test_applying_the_package_metadata_gives_no_setuptools_warning() -> None:
    import subprocess

    pytest.importorskip("setuptools")
    code = ("import warnings, sys; warnings.simplefilter('always');"
            "from setuptools.config.pyprojecttoml import apply_configuration; from setuptools.dist import Distribution;"
            "apply_configuration(Distribution(), 'pyproject.toml')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert "Warning" not in done.stderr, done.stderr  # e.g. `project.license` as a TOML table is deprecated


@pytest.mark.parametrize(("args", "allowed"), [
    (["generate", "--quality", "101"], "(allowed: 1 to 100)"), (["generate", "--num-proc", "0"], "(allowed: >= 1)"),
    (["generate", "--limit", "-3"], "(allowed: >= 1)"), (["judge", "x", "--temperature", "3"], "(allowed: 0 to 2)"),
])
def test_an_out_of_range_number_is_refused_naming_the_allowed_range(args: list[str], allowed: str) -> None:
    result = CliRunner().invoke(app, args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 2, result.stderr
    assert lines[0].startswith(f"error: Invalid value for '{args[-2]}'") and lines[0].endswith(allowed)
    assert lines[1] == f"see `robust-mllm {args[0]} -h` for the options"
