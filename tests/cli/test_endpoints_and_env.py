"""What is recorded is true (the endpoint actually used, never a key; an unpriced model's cost is
"unknown", not $0) and per-machine options read environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.cli.common import cost_text
from robustbench_mllm.io_utils import read_json
from tests.fixtures.fake_openai import FakeOpenAIServer
from tests.fixtures.judge_run import VARIANTS, build_judge_run
from tests.fixtures.tiny_generated import write_tiny_generated

KEY = "sk-env-SECRET-5e1f0c"


def _answer(body: dict[str, Any]) -> str:
    return "Yes"


def test_evaluate_records_the_openai_base_url_the_sdk_used_and_no_key(tmp_path: Path, monkeypatch) -> None:
    data = write_tiny_generated(tmp_path / "gen", pope_items=2, other_items=1)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer(_answer) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        result = CliRunner().invoke(app, ["evaluate", "--model", "gpt-4o", "--adapter", "openai", "--data", str(data),
                                          "--datasets", "tiny_pope", "--out", str(tmp_path / "run")])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 4  # 2 items x 2 variants went to $OPENAI_BASE_URL
    recorded = read_json(tmp_path / "run" / "run.json")["adapter"]
    assert recorded["base_url"] == server.base_url and recorded["adapter"] == "openai"
    assert [p for p in (tmp_path / "run").rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()] == []


def test_judge_reads_its_server_and_model_from_the_environment_and_names_an_unpriced_model(
    tmp_path: Path, monkeypatch
) -> None:
    run = build_judge_run(tmp_path, n_items=3, variants=VARIANTS[:1])
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with FakeOpenAIServer(lambda body: "8 7") as server:
        monkeypatch.setenv("ROBUST_MLLM_JUDGE_BASE_URL", server.base_url)
        monkeypatch.setenv("ROBUST_MLLM_JUDGE_MODEL", "local-judge-7b")
        result = CliRunner().invoke(app, ["judge", str(run), "--runs", "1", "--prompt", "robust-mllm"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert {r.body["model"] for r in server.requests} == {"local-judge-7b"}
    assert "cost unknown for local-judge-7b" in result.output and "--prices" in result.output
    assert "$0.0000" not in result.output
    endpoint = read_json(run / "results.json")["judge"]["endpoint"]
    assert endpoint["base_url"] == server.base_url and endpoint["model"] == "local-judge-7b"


def test_cost_text_sums_priced_models_and_names_the_unpriced_ones() -> None:
    priced = {"prompt_tokens": 1000, "completion_tokens": 10, "estimated_cost_usd": 0.0026}
    unpriced = {"prompt_tokens": 5, "completion_tokens": 5, "estimated_cost_usd": None}
    idle = {"prompt_tokens": 0, "completion_tokens": 0, "estimated_cost_usd": None}  # only cache hits
    assert cost_text({"models": {"gpt-4o": priced}, "estimated_cost_usd": 0.0026}) == "~$0.0026"
    assert cost_text({"models": {"x": idle}, "estimated_cost_usd": 0.0}) == "~$0.0000"
    both = cost_text({"models": {"gpt-4o": priced, "llama": unpriced}, "estimated_cost_usd": 0.0026})
    assert both.startswith("~$0.0026 + cost unknown for llama") and "--prices FILE" in both


PER_MACHINE = [
    ("judge", "judge_model", "ROBUST_MLLM_JUDGE_MODEL"), ("judge", "base_url", "ROBUST_MLLM_JUDGE_BASE_URL"),
    ("generate", "translator_base_url", "ROBUST_MLLM_TRANSLATOR_BASE_URL"),
    ("generate", "translator_model", "ROBUST_MLLM_TRANSLATOR_MODEL"),
    ("generate", "translation_cache", "ROBUST_MLLM_TRANSLATION_CACHE"), ("generate", "num_proc", "ROBUST_MLLM_NUM_PROC"),
    ("evaluate", "device", "ROBUST_MLLM_DEVICE"), ("emid", "device", "ROBUST_MLLM_DEVICE"),
    ("represent", "device", "ROBUST_MLLM_DEVICE"), ("emid", "image_encoder", "ROBUST_MLLM_IMAGE_ENCODER"),
    ("emid", "text_encoder", "ROBUST_MLLM_TEXT_ENCODER"),
]


@pytest.mark.parametrize(("command", "option", "variable"), PER_MACHINE)
def test_per_machine_options_read_an_environment_variable(command: str, option: str, variable: str) -> None:
    group = typer.main.get_command(app)
    params = {p.name: p for p in group.commands[command].params}  # type: ignore[attr-defined]
    assert params[option].envvar == variable


def test_an_environment_variable_is_checked_like_the_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "g")], env={"ROBUST_MLLM_NUM_PROC": "0"})
    assert result.exit_code == 2 and "--num-proc" in result.output and not (tmp_path / "g").exists()


def test_translation_usage_line_names_an_unpriced_translator(monkeypatch, capsys) -> None:
    from robustbench_mllm.cli import generate

    usage = {"requests": 2, "cache_hits": 1, "prompt_tokens": 30, "completion_tokens": 20, "estimated_cost_usd": None}
    monkeypatch.setattr("robustbench_mllm.perturbations.text.translation.translation_usage",
                        lambda: {"models": {"my-mt": usage}})
    generate._print_translation_usage()
    line = " ".join(capsys.readouterr().out.split())  # as one line, however rich wrapped it
    assert "translations with my-mt: 2 requests, 1 cache hits, 30 prompt tokens, 20 completion tokens" in line
    assert "cost unknown for my-mt" in line and json.dumps(usage) not in line
