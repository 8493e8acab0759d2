"""The whole pipeline through the real CLI, each stage reading what the previous one wrote:
generate (a visual, a text and a joint perturbation of the sample suite) -> evaluate (tiny LLaVA)
-> judge (loopback OpenAI-compatible server with scripted scores and injected faults) -> emid (tiny
CLIP and XLM-R) -> represent (into the run folder) -> report. The report must carry this run's
judge, EMID and representation numbers."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import read_json, read_jsonl
from tests.fixtures.fake_openai import FakeOpenAIServer, FaultPlan, last_user_text

pytestmark = pytest.mark.slow

VARIANTS = ("clean", "frost_s3", "char_typo_s3", "frost+translate_greek_s3")
GREEK = re.compile("[\u0370-\u03ff]")
REFUSAL = "I cannot rate these answers."


class ScriptedJudge:
    """Reference 8 everywhere; the model gets 6, or 3 when the question it answered is Greek.
    The first open-ended item of the suite (told by its reference answer, which no perturbation
    touches) never gets a parseable reply."""

    def __init__(self, unrateable: str) -> None:
        self.unrateable = unrateable

    def __call__(self, body: dict[str, Any]) -> str:
        prompt = last_user_text(body)
        if self.unrateable in prompt:
            return REFUSAL
        return f"8 {3 if GREEK.search(prompt) else 6}\nAssistant 2 is less detailed."


def _section(text: str, start: str, end: str) -> str:
    """From the heading ``start`` up to the next section heading ``end``."""
    begin = text.index(start) + len(start)
    stop = text.find(end, begin)
    return text[begin:stop if stop >= 0 else len(text)]


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{args[0]}: {result.output}\n{result.exception!r}"
    return result.output


def test_generate_evaluate_judge_emid_represent_report(
        tiny_llava_dir: Path, tiny_clip_dir: Path, tiny_xlmr_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, one_thread: object) -> None:
    from robustbench_mllm.store.variants import load_items

    monkeypatch.setenv("OPENAI_API_KEY", "sk-e2e-not-a-secret")
    generated, run = tmp_path / "generated", tmp_path / "run"
    _ok(["generate", "--suite", "sample", "--severity", "3", "--limit", "2", "--out", str(generated),
         "--perturbations", "frost,char_typo,frost+translate_greek"])
    for dataset in ("sample_lbcoco", "sample_pope"):  # POPE gets text variants only when named
        assert sorted(p.name for p in (generated / dataset).iterdir()) == sorted(VARIANTS)

    _ok(["evaluate", "--model", str(tiny_llava_dir), "--data", str(generated), "--out", str(run),
         "--max-new-tokens", "8", "--device", "cpu"])
    section = read_json(run / "results.json")["evaluate"]
    assert section["protocol"]["name"] == "vittle"  # the default, recorded with the data
    made = section["generation"]  # how the data was made, as the manifest recorded it
    assert made["storage"]["format"] == "jpeg" and made["storage"]["chroma"] == "4:2:0"
    assert made["assets"]["frost"]["source"] == "derived" and len(made["translation_prompt_sha256"]) == 64
    assert made["similarity_filter"]["on"] is False
    evaluated = section["datasets"]
    for split_metrics in evaluated["sample_pope"].values():
        assert 0.0 <= split_metrics["metrics"]["llava"]["pooled"]["accuracy"] <= 1.0

    open_items = load_items(generated, "sample_lbcoco", "clean")
    unrateable = open_items[0].reference_answer
    assert unrateable and all(unrateable != item.reference_answer for item in open_items[1:])
    with FakeOpenAIServer(ScriptedJudge(unrateable),
                          faults=FaultPlan(rate=0.3, kinds=("429", "500", "garbage"), seed=3)) as server:
        judge_args = ["judge", str(run), "--base-url", server.base_url, "--runs", "2", "--max-retries", "1",
                      "--prompt", "robust-mllm"]
        printed = _ok(judge_args)
        assert len({r.outcome for r in server.requests} - {"ok"}) >= 2  # faults were injected
        first_usage = read_json(run / "results.json")["judge"]["usage"]
        sent = len(server.requests)
        reprinted = " ".join(_ok(judge_args).split())
        assert len(server.requests) == sent  # the rerun is answered from the cache
        assert "over 2 invocations" in reprinted
    judged = read_json(run / "results.json")["judge"]
    n_open = len(open_items)
    assert f"prompt {judged['prompt']['id']}" in printed and "tokens billed" in printed
    # every answered request is counted: 2 runs x items x variants, plus one retry per unparseable reply
    assert first_usage["models"]["gpt-4o"]["requests"] == server.ok_count() == 2 * (n_open + 1) * len(VARIANTS)
    assert first_usage["estimated_cost_usd"] > 0  # priced from the bundled table
    assert judged["n_judgments"] == 2 * n_open * len(VARIANTS)
    assert judged["n_failed"] == 2 * len(VARIANTS)  # one question per variant, both runs; excluded
    assert judged["usage"]["models"]["gpt-4o"]["cache_hits"] == 2 * n_open * len(VARIANTS)
    assert judged["usage_total"]["estimated_cost_usd"] == pytest.approx(first_usage["estimated_cost_usd"])
    scores = {v: judged["datasets"]["sample_lbcoco"][v]["mean_over_runs"]["overall"]["score"] for v in VARIANTS}
    assert scores == pytest.approx({"clean": 75.0, "frost_s3": 75.0, "char_typo_s3": 75.0,
                                    "frost+translate_greek_s3": 37.5})

    _ok(["emid", str(run), "--image-encoder", str(tiny_clip_dir), "--text-encoder", str(tiny_xlmr_dir),
         "--club-max-steps", "60", "--permutations", "5", "--protocol", "canonical"])
    assert [p.name for p in (generated / "estimator").glob("*/club.safetensors")]  # the suite's own estimator
    emid = read_json(run / "results.json")["emid"]["datasets"]
    assert set(emid) == {"sample_lbcoco"}  # POPE's yes/no answers are out of EMID's default scope
    assert emid["sample_lbcoco"]["clean"]["emid"] == 0.0
    for variant in VARIANTS[1:]:
        row = emid["sample_lbcoco"][variant]
        assert row["emid"] == pytest.approx(emid["sample_lbcoco"]["clean"]["emi"] - row["emi"])
        for term in ("jsd_image", "jsd_question", "jsd_answers_clean", "jsd_answers_variant"):
            assert 0.0 <= row[term]["value"] <= 0.6932 and 0.0 <= row[term]["baseline"] <= 0.6932
        assert row["bound"] >= 0.0
    # the text-only variant keeps the clean images: their JSD is exactly 0
    assert emid["sample_lbcoco"]["char_typo_s3"]["jsd_image"]["value"] == pytest.approx(0.0, abs=1e-9)

    _ok(["represent", "--model", str(tiny_llava_dir), "--data", str(generated), "--layer", "1", "--out", str(run),
         "--permutations", "5", "--device", "cpu"])
    represented = read_json(run / "results.json")["represent"]["datasets"]["sample_lbcoco"]

    out = tmp_path / "report"
    _ok(["report", str(run), "--out", str(out), "--resamples", "200"])
    with (out / "metrics.csv").open() as handle:
        rows = {(r["dataset"], r["variant"], r["metric"]): r for r in csv.DictReader(handle)}
    for variant, score in scores.items():
        row = rows[("sample_lbcoco", variant, "relative_preference")]
        assert float(row["value"]) == pytest.approx(score)
        assert float(row["n"]) == 2 * (n_open - 1)  # recomputed from the items: 2 runs x those whose judgment parsed
    markdown, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    for variant in VARIANTS:
        for metric, key in (("emid", "emid"), ("emi", "emi")):
            value = float(rows[("sample_lbcoco", variant, metric)]["value"])
            assert value == pytest.approx(emid["sample_lbcoco"][variant][key])
    for text, start, end in ((markdown, "## sample_lbcoco: Relative preference\n", "\n## "),
                             (html, 'id="sample_lbcoco_relative_preference"', '<details class="section"')):
        judged_section = _section(text, start, end)
        assert "75.0" in judged_section and "37.5" in judged_section
        assert "EMID upper bound: mean over" in text and "same-distribution baseline in parentheses" in text
        jsd = represented["frost_s3"]["jsd"]["linear"]
        assert f"{jsd['value']:.3f} ({jsd['baseline']:.3f})" in text
        for variant in VARIANTS[1:]:  # the bounds are distinctive numbers; EMIDs of random models ~0
            row = emid["sample_lbcoco"][variant]
            assert f"{row['bound']:.3f} ({row['bound_baseline']:.3f})" in text
    assert "hidden states (pca)" in html  # represent's PNGs, inlined
    judgments = list(read_jsonl(run / "judgments" / "sample_lbcoco" / "clean.jsonl"))
    assert {j["prompt_id"] for j in judgments} == {judged["prompt"]["id"]}
