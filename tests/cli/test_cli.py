"""The CLI's start-up path: every command listed, no heavy import for --help."""

import subprocess
import sys

from typer.testing import CliRunner

from robustbench_mllm.cli.app import app

COMMANDS = (
    "list", "generate", "gallery", "import-shifted", "evaluate", "merge", "references", "judge", "emid",
    "represent", "report", "publish", "export-lmms-eval", "import-lmms-eval", "train",
)


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f" {command} " in result.output, command


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from typer.testing import CliRunner; from robustbench_mllm.cli.app import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0;"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'cv2', 'matplotlib', 'pyarrow')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_list_perturbations_shows_visual_and_text_perturbations():
    result = CliRunner().invoke(app, ["list", "perturbations"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name in ("frost", "zoom_blur", "speckle_noise", "char_typo", "word_insert", "translate_hindi"):
        assert name in result.output


def test_ctrl_c_exits_130_with_a_resume_hint(monkeypatch, capsys):
    import pytest

    import robustbench_mllm.cli.app as cli
    from robustbench_mllm import registry

    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "load_registry", interrupted)
    monkeypatch.setattr("sys.argv", ["robust-mllm", "list", "perturbations"])
    with pytest.raises(SystemExit) as exit_info:
        cli.run()
    assert exit_info.value.code == 130
    assert "rerun the same command to continue" in capsys.readouterr().err
