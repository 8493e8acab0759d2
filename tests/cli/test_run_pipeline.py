"""``robust-mllm run CONFIG.yaml`` end to end on the sample suite with two tiny models and the local
fake judge: every stage runs once; a rerun sends no request and rewrites no file; a removed answer
file is answered again and only what depends on it is redone; config mistakes are one line each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from tests.fixtures.fake_openai import FakeOpenAIServer
from tests.fixtures.tiny_llava import build_tiny_vittle

pytestmark = pytest.mark.slow


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def _config(tmp_path: Path, plain: Path, vittle: Path, base_url: str) -> Path:
    options: dict[str, Any] = {"device": "cpu", "max_new_tokens": 3, "limit": 4, "batch_size": 8}
    config = {
        "suite": "sample", "protocol": "vittle", "severities": [1, 3, 5], "limit": 6,
        "perturbations": "frost,char_typo,frost+translate_greek", "output": "out",
        "models": [{"name": "plain", "path": str(plain), "options": options},
                   {"name": "vittle", "path": str(vittle), "options": options, "represent": True}],
        "represent": {"layer": 1, "permutations": 2, "jsd_kinds": ["linear"]},
        "judge": {"base_url": base_url, "prompt": "robust-mllm", "runs": 1, "timeout_s": 5},
        "report": {"baseline": "plain", "resamples": 100},
    }
    path = tmp_path / "benchmark.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_run_makes_everything_once_and_a_rerun_does_nothing(tiny_llava_dir: Path, tmp_path: Path,
                                                            one_thread: object) -> None:
    vittle = build_tiny_vittle(tiny_llava_dir, tmp_path / "vittle_model")
    with FakeOpenAIServer(lambda body: "8 6") as server:
        config = _config(tmp_path, tiny_llava_dir, vittle, server.base_url)
        printed = CliRunner().invoke(app, ["run", str(config), "--print-config"])
        assert printed.exit_code == 0, printed.output
        resolved = yaml.safe_load(printed.output)
        assert resolved["generate"]["severities"] == [1, 3, 5] and resolved["judge"]["prompt"] == "robust-mllm"
        assert resolved["models"][1]["run"] == str(tmp_path / "out" / "runs" / "vittle")
        assert not (tmp_path / "out").exists()  # printing the config does nothing else

        first = CliRunner().invoke(app, ["run", str(config)])
        assert first.exit_code == 0, first.output
        out = tmp_path / "out"
        sent = len(server.requests)
        assert sent == 2 * 4 * 10  # 2 models x 4 open-ended items x 10 LB-COCO variants x 1 judge run
        for name in ("report.html", "tables.tex", "metrics.csv", "modality.csv"):
            assert (out / "report" / name).is_file(), name
        assert {p.name for p in (out / "runs").iterdir()} == {"plain", "vittle"}
        assert (out / "report" / "plots" / "vittle_sample_lbcoco_hidden_states_pca.png").is_file()  # represent ran
        assert not (out / "runs" / "plain" / "represent.json").exists()  # ... only where asked
        import pandas as pd

        assert set(pd.read_csv(out / "report" / "metrics.csv")["model"]) == {"plain", "vittle"}  # the config's names

        before = _snapshot(out)
        again = CliRunner().invoke(app, ["run", str(config)])
        assert again.exit_code == 0, again.output
        assert len(server.requests) == sent  # no judge request
        assert _snapshot(out) == before  # nothing generated, answered, judged or reported again
        assert "ran" not in {line.split("│")[3].strip() for line in again.output.splitlines() if line.count("│") == 5}

        (out / "runs" / "vittle" / "predictions" / "sample_pope" / "frost_s3.jsonl").unlink()
        resumed = CliRunner().invoke(app, ["run", str(config)])
        assert resumed.exit_code == 0, resumed.output
        changed = {k for k, v in _snapshot(out).items() if before.get(k) != v}
        assert "runs/vittle/predictions/sample_pope/frost_s3.jsonl" in changed
        assert not [k for k in changed if k.startswith(("runs/plain/", "generated/"))]
        assert len(server.requests) == sent  # POPE is not judged: still no request
        assert "report/report.html" in changed

        import shutil

        shutil.rmtree(out / "generated" / "sample_lbcoco" / "frost_s5")  # an incomplete suite folder
        regenerated = CliRunner().invoke(app, ["run", str(config)])
        assert regenerated.exit_code == 0, regenerated.output
        assert "1 variant written" in regenerated.output  # only the missing one, with the same bytes
        assert (out / "generated" / "sample_lbcoco" / "frost_s5").is_dir() and len(server.requests) == sent


def test_config_mistakes_are_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({
        "suite": "sample", "severities": [1, 7], "limt": 3, "output": "out",
        "models": [{"name": "a", "options": {"devce": "cpu", "batch_size": "many"}}, {"path": "/m", "emid": "yes"}],
        "judge": {"runs": "two"}, "report": {"baseline": "nobody"},
    }), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.replace("error: ", "").splitlines() if line.strip()]
    assert all(line.startswith(f"{path}: `") for line in lines), lines
    expected = ["`limt`: unknown key; did you mean 'limit'?", "`severities`:", "`models[0].path`: required",
                "`models[0].options.devce`: unknown key; did you mean 'device'?",
                "`models[0].options.batch_size`: expected an integer", "`models[1].emid`: expected true or false",
                "`judge.runs`: expected an integer", "`report.baseline`: 'nobody' is not a model name"]
    assert len(lines) == len(expected)
    for line, part in zip(lines, expected, strict=True):
        assert part in line, (part, line)
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(broken)])
    assert result.exit_code == 2 and "not valid YAML" in result.output and "Traceback" not in result.output
