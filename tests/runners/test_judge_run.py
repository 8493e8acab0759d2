"""`robust-mllm judge` end to end against the loopback server with faults and scripted replies."""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import read_json, read_jsonl
from robustbench_mllm.judges.prompts import own_prompt
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.runners.judge import JudgeConfig, run_judge
from tests.fixtures.fake_openai import FakeOpenAIServer, FaultPlan, last_user_text
from tests.fixtures.judge_run import VARIANTS, build_judge_run

KEY = "sk-judge-SECRET-91c4e2d0"
MODEL_SCORE = {"conv": 6, "detail": 4, "complex": 8}  # reference always 8; frost answers 2 lower
FORMATS = ("{r} {m}", "**{r}, {m}**", "Assistant 1: {r}/10\nAssistant 2: {m}/10", "My review.\n{r},{m}\nWhy.")


class ScriptedJudge:
    """Scores from the answer text; q4/clean never parses; q5's first reply never parses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any]) -> str:
        match = re.search(r"answer q(\d+) (\S+)", last_user_text(body))
        assert match, "judge prompt lacks the model answer"
        index, variant = int(match.group(1)), match.group(2)
        with self.lock:
            self.seen[match.group(0)] += 1
            first = self.seen[match.group(0)] == 1
        if (index, variant) == (4, "clean") or (index == 5 and first):
            return "I am unable to rate these answers."
        model = MODEL_SCORE[("conv", "detail", "complex")[index % 3]] - (2 if variant != "clean" else 0)
        return FORMATS[index % 4].format(r=8, m=model)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def _config(run: Path, server: FakeOpenAIServer, **kw: Any) -> JudgeConfig:
    endpoint = ChatEndpoint(model="gpt-4o", base_url=server.base_url, timeout_s=1.0, max_retries=8)
    return JudgeConfig(run_dir=run, endpoint=endpoint, prompt=own_prompt(), runs=3, max_retries=2, **kw)


@pytest.mark.slow
def test_faulty_server_every_item_judged_or_counted_and_rerun_sends_nothing(tmp_path: Path) -> None:
    run = build_judge_run(tmp_path, n_items=9)
    faults = FaultPlan(rate=0.3, stall_s=1.5, seed=7)
    with FakeOpenAIServer(ScriptedJudge(), faults=faults) as server:
        payload = run_judge(_config(run, server))
        assert {r.outcome for r in server.requests} == {"ok", "429", "500", "timeout", "garbage"}
        sent, answered = len(server.requests), server.ok_count()
        again = run_judge(_config(run, server))
        assert len(server.requests) == sent  # everything came from the cache
    assert again["datasets"] == payload["datasets"]

    clean = payload["datasets"]["sample_lbcoco"]["clean"]["mean_over_runs"]
    assert clean["conv"]["score"] == pytest.approx(75.0)
    assert clean["detail"] == {"score": pytest.approx(50.0), "runs_used": 3, "n_judged": 6, "n_failed": 3}
    assert clean["complex"]["score"] == pytest.approx(100.0)  # q5 parsed on a retry
    assert clean["overall"]["score"] == pytest.approx(100 * 6.25 / 8)
    frost = payload["datasets"]["sample_lbcoco"]["frost_s3"]["mean_over_runs"]
    assert [frost[g]["score"] for g in ("conv", "detail", "complex", "overall")] == pytest.approx([50, 25, 75, 50])
    assert payload["n_judgments"] == 2 * 9 * 3 and payload["n_failed"] == 3
    assert payload["skipped_closed_form"] == ["sample_pope/clean", "sample_pope/frost_s3"]
    assert payload["prompt"] == own_prompt().describe()
    assert payload["endpoint"] == {"model": "gpt-4o", "base_url": server.base_url, "azure": False,
                                   "api_version": None}

    lines = list(read_jsonl(run / "judgments" / "sample_lbcoco" / "clean.jsonl"))
    assert sorted((j["id"], j["run"]) for j in lines) == sorted((f"q{i}", r) for i in range(9) for r in range(3))
    failed = [j for j in lines if j["failure"]]
    assert {j["id"] for j in failed} == {"q4"} and all(j["model_score"] is None for j in failed)
    assert payload["usage"]["models"]["gpt-4o"]["requests"] == answered
    rerun_usage = read_json(run / "results.json")["judge"]["usage"]["models"]["gpt-4o"]
    assert (rerun_usage["requests"], rerun_usage["cache_hits"]) == (0, 2 * 9 * 3)
    total = read_json(run / "results.json")["judge"]["usage_total"]  # the first invocation's cost is kept
    assert total["invocations"] == 2 and total["models"]["gpt-4o"]["requests"] == answered
    assert total["estimated_cost_usd"] == pytest.approx(payload["usage"]["estimated_cost_usd"]) and total[
        "estimated_cost_usd"] > 0


@pytest.mark.slow
def test_cli_run_never_writes_or_logs_the_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    run = build_judge_run(tmp_path, n_items=6)
    with FakeOpenAIServer(ScriptedJudge(), faults=FaultPlan(rate=0.3, stall_s=1.5, seed=1)) as server:
        result = CliRunner().invoke(
            app, ["judge", str(run), "--base-url", server.base_url, "--runs", "2", "--timeout", "1",
                  "--concurrency", "4", "--prompt", "robust-mllm"],
        )
    assert result.exit_code == 0, result.output
    assert "sample_lbcoco" in result.output and "frost_s3" in result.output
    assert KEY not in result.output and KEY not in caplog.text
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite" for p in files)
    assert [p for p in files if KEY.encode() in p.read_bytes()] == []


def test_cli_azure_takes_endpoint_version_deployment_and_key_from_env(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = build_judge_run(tmp_path, n_items=3, variants=VARIANTS[:1])
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "judge-deploy")
    with FakeOpenAIServer(ScriptedJudge()) as server:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.root_url)
        result = CliRunner().invoke(app, ["judge", str(run), "--azure", "--runs", "1", "--timeout", "2",
                                          "--prompt", "robust-mllm"])
    assert result.exit_code == 0, result.output
    assert {r.path for r in server.requests} == {
        "/openai/deployments/judge-deploy/chat/completions?api-version=2024-10-21"}
    assert all(r.headers.get("api-key") == KEY for r in server.requests)
    judged = read_json(run / "results.json")["judge"]
    assert judged["endpoint"] == {"model": "judge-deploy", "base_url": server.root_url, "azure": True,
                                  "api_version": "2024-10-21"}
    assert judged["n_judgments"] == 3 and KEY not in (run / "results.json").read_text()


KILLED_JUDGE = """
import sys
from pathlib import Path
from robustbench_mllm.judges.prompts import own_prompt
from robustbench_mllm.runners.judge import JudgeConfig, run_judge
from robustbench_mllm.llm.settings import ChatEndpoint
endpoint = ChatEndpoint(model="gpt-4o", base_url=sys.argv[2], concurrency=2, timeout_s=5.0)
run_judge(JudgeConfig(run_dir=Path(sys.argv[1]), endpoint=endpoint, prompt=own_prompt(), max_retries=2))
"""


@pytest.mark.slow
def test_kill_9_mid_run_loses_only_requests_in_flight(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from robustbench_mllm.llm.cache import ResponseCache

    run = build_judge_run(tmp_path, n_items=9)
    with FakeOpenAIServer(ScriptedJudge(), latency_s=0.1) as server:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_JUDGE, str(run), server.base_url])
        deadline = time.monotonic() + 60
        while server.ok_count() < 12 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        answered = server.ok_count()
        with ResponseCache(run / "judgments" / "cache.sqlite") as cache:
            kept = len(cache)
        assert answered >= 12 and kept >= answered - 2 - 2  # concurrency 2: 2 in flight, 2 awaiting put
        before = len(server.requests)
        payload = run_judge(_config(run, server))
        distinct = 2 * 9 * 3
        # q4/clean never parses (3 runs x 3 attempts) and q5's first reply is a retry; the rest is 1 each
        assert len(server.requests) - before <= distinct - kept + 3 * 2 + 1
    assert payload["n_judgments"] == distinct and payload["n_failed"] == 3


def test_a_missing_or_foreign_run_folder_is_named_with_what_to_do(tmp_path: Path) -> None:
    from robustbench_mllm.store.run_info import data_folder

    with pytest.raises(FileNotFoundError, match=r"nosuch: no such run folder \(make it with `robust-mllm evaluate"):
        data_folder(tmp_path / "nosuch", None)
    with pytest.raises(FileNotFoundError, match=r"run.json: missing \(is .* a `robust-mllm evaluate` run folder"):
        data_folder(tmp_path, None)
