"""`robust-mllm import-lmms-eval`: lmms-eval's logged samples (written here in lmms-eval 0.7's
documented format) become a run folder that `judge` and `report` take, scored like `evaluate`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.prompts import prompt_for
from robustbench_mllm.protocols import get_protocol
from robustbench_mllm.runners.evaluate.scoring import score_variant, task_of
from robustbench_mllm.store.manifest import resolve_protocol
from robustbench_mllm.store.predictions import read_answers
from robustbench_mllm.store.variants import list_variants, load_items
from tests.fixtures.fake_openai import FakeOpenAIServer, last_user_text

DATE = "2026-12-01T10-00-00.123456"
POPE_ANSWERS = ("Yes.", "No", "no, there is not.", "Yes, there is.", "I cannot tell.")


def _task(dataset: str, variant: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", f"tiny_shift_{dataset}-{variant}".lower())


def _sample(doc_id: int, target: str, prompt: str, answer: str, legacy: dict[str, Any] | None) -> dict[str, Any]:
    """One line as lmms-eval 0.7's EvaluationTracker.save_results_samples writes it: one request,
    so ``filtered_resps`` is flattened to the string and ``resps`` (equal to it) dropped; the
    document itself is not logged. ``legacy``: a 0.6-style line (``doc`` kept, lists not flattened)."""
    line: dict[str, Any] = {"doc_id": doc_id, "target": target, "filtered_resps": answer, "input": prompt,
                            "token_counts": [None], "doc_hash": f"{doc_id:064x}", "answered": 1.0}
    if legacy is not None:
        line.update({"doc": legacy, "resps": [[f"  {answer}  "]], "filtered_resps": [answer]})
    return line


def _write_samples(logs: Path, generated: Path) -> dict[tuple[str, str], dict[str, str]]:
    """A samples file per config; returns the answers written, per (dataset, variant)."""
    protocol = get_protocol("canonical")  # what the fixture suite records (a manifest before protocols)
    folder = logs / "llava_hf__tiny"
    folder.mkdir(parents=True)
    written = {}
    for dataset, variants in list_variants(generated).items():
        for variant in variants:
            items = load_items(generated, dataset, variant)
            kind = task_of(items, variant)
            answers = {}
            lines = []
            for doc_id, item in enumerate(items):
                if kind == "yes_no":
                    answer = POPE_ANSWERS[(doc_id + len(variant)) % len(POPE_ANSWERS)]
                else:
                    answer = f"answer {item.id} {variant}"
                answers[item.id] = answer
                legacy = {"id": item.id, "question": item.question} if variant == "frost_s3" else None
                lines.append(_sample(doc_id, item.label or item.reference_answer, prompt_for(item, kind, protocol),
                                     answer, legacy))
            (folder / f"{DATE}_samples_{_task(dataset, variant)}.jsonl").write_text(
                "".join(json.dumps(line) + "\n" for line in lines))
            written[(dataset, variant)] = answers
    return written


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def _judge_reply(body: dict[str, Any]) -> str:
    """8 for the reference; 6 for clean answers, 4 for perturbed ones."""
    return "8 6" if re.search(r"answer \S+ clean\b", last_user_text(body)) else "8 4"


@pytest.mark.slow
def test_samples_import_then_judge_and_report(report_suite: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    generated = report_suite["generated"]
    written = _write_samples(tmp_path / "logs", generated)
    files = sorted((tmp_path / "logs" / "llava_hf__tiny").glob("*.jsonl"))
    run = tmp_path / "run"
    _ok(["import-lmms-eval", *map(str, files), "--data", str(generated), "--out", str(run)])

    info = read_json(run / "run.json")
    assert info["adapter_name"] == "lmms-eval" and info["model"] == "llava_hf__tiny"
    assert info["data"] == str(generated.resolve()) and len(info["samples"]) == len(files)
    results = read_json(run / "results.json")["evaluate"]["datasets"]
    for (dataset, variant), answers in written.items():
        assert read_answers(run, dataset, variant) == answers
        items = load_items(generated, dataset, variant)
        assert results[dataset][variant] == score_variant(items, answers, task_of(items, variant),
                                                                resolve_protocol(generated, None))

    # the judge (our own prompt: offline, no rule.json) and the report take the imported run
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-import")
    with FakeOpenAIServer(_judge_reply) as server:
        _ok(["judge", str(run), "--base-url", server.base_url, "--runs", "1", "--timeout", "5",
             "--prompt", "robust-mllm"])
    judged = read_json(run / "results.json")["judge"]["datasets"]["tiny_lbcoco"]
    assert judged["clean"]["mean_over_runs"]["overall"]["score"] == pytest.approx(75.0)
    assert judged["frost_s3"]["mean_over_runs"]["overall"]["score"] == pytest.approx(50.0)
    _ok(["report", str(run), "--out", str(tmp_path / "report"), "--resamples", "100"])
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "| llava_hf__tiny |" in markdown and "## tiny_pope: POPE F1" in markdown
    assert "## tiny_lbcoco: Relative preference" in markdown and "| V | frost | 3 | 50.0 [50.0, 50.0] |" in markdown


def _one_file(logs: Path, generated: Path, variant: str = "clean") -> Path:
    _write_samples(logs, generated)
    return next((logs / "llava_hf__tiny").glob(f"*_samples_{_task('tiny_pope', variant)}.jsonl"))


def test_samples_of_other_data_are_refused(report_suite: dict[str, Path], tmp_path: Path) -> None:
    generated = report_suite["generated"]
    path = _one_file(tmp_path / "logs", generated)
    lines = path.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["target"] = "yes" if bad["target"] == "no" else "no"
    path.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[3:]]) + "\n")
    result = CliRunner().invoke(app, ["import-lmms-eval", str(path), "--data", str(generated),
                                      "--out", str(tmp_path / "run")])
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "line 3" in message and "'target'" in message and "Traceback" not in message
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_file_of_no_exported_task_is_refused(report_suite: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / f"{DATE}_samples_mmbench_en.jsonl"
    path.write_text(json.dumps({"doc_id": 0, "filtered_resps": "A"}) + "\n")
    result = CliRunner().invoke(app, ["import-lmms-eval", str(path), "--data", str(report_suite["generated"]),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "names no exported task" in " ".join(result.output.split())


def test_imports_into_one_run_add_up_and_another_model_is_refused(report_suite: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    generated = report_suite["generated"]
    _write_samples(tmp_path / "logs", generated)
    folder = tmp_path / "logs" / "llava_hf__tiny"
    joint = next(folder.glob("*_frost_translate_greek_s3.jsonl"))
    run = tmp_path / "run"
    _ok(["import-lmms-eval", str(joint), "--data", str(generated), "--out", str(run), "--model", "m"])
    assert set(read_json(run / "results.json")["evaluate"]["datasets"]["tiny_lbcoco"]) == {"frost+translate_greek_s3"}
    pope = next(folder.glob(f"*_{_task('tiny_pope', 'clean')}.jsonl"))
    _ok(["import-lmms-eval", str(pope), "--data", str(generated), "--out", str(run), "--model", "m"])
    info = read_json(run / "run.json")
    assert [s["config"] for s in info["samples"]] == ["tiny_lbcoco-frost+translate_greek_s3", "tiny_pope-clean"]
    result = CliRunner().invoke(app, ["import-lmms-eval", str(pope), "--data", str(generated), "--out", str(run),
                                      "--model", "other"])
    assert result.exit_code == 2 and "use another --out folder" in " ".join(result.output.split())
