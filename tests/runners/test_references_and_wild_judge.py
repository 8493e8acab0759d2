"""`robust-mllm references` then `judge` on a tiny in-the-wild suite (LB-Wild, LB-Wilder, WV-Bench),
against the loopback OpenAI server and a local server standing in for the pinned rule.json URLs."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.downloads import PinnedFile
from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.io_utils import append_jsonl, read_json, read_jsonl
from robustbench_mllm.judges.official_rules import RuleFiles
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.records import Item, JudgeContext, Prediction, VariantSpec
from robustbench_mllm.runners.judge import JudgeConfig, run_judge
from robustbench_mllm.store.layout import RUN_INFO, predictions_file, variant_file
from robustbench_mllm.store.variant_schema import item_to_row
from robustbench_mllm.store.variant_writer import write_rows
from tests.fixtures.fake_openai import FakeOpenAIServer, last_user_text
from tests.fixtures.file_server import FileServer

KEY = "sk-refs-SECRET-0d1e"
TYPO = VariantSpec(text="char_typo", severity=3)
RULES = {**{k: {"role": "Assistant", "prompt": f"COCO {k}"} for k in ("conv", "detail", "complex")},
         **{f"llava_bench_{k}": {"role": "Assistant", "prompt": f"WILD {k}"} for k in ("conv", "detail", "complex")}}
VITTLE_RULES = {**RULES, "llava_bench_wilder": {"role": "Assistant", "prompt": "NO CONTEXT"},
                "wildvision_bench": {"role": "Assistant", "prompt": "NO CONTEXT"}}


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def _items(dataset: str, question: str = "What is shown in {dataset} picture {i}?") -> list[Item]:
    caption = ("A green picture.",) if dataset == "lbwild" else ()
    return [Item(id=f"{dataset}-{i}", dataset=dataset, split="test", question=question.format(i=i, dataset=dataset), image=None,
                 image_id=f"img{i}", reference_answer=f"own reference {dataset}-{i}", category="conv",
                 context=JudgeContext(captions=caption)) for i in range(3)]


def build_wild_suite(root: Path) -> tuple[Path, Path]:
    """GENERATED with lbwild (clean + a typo variant), lbwilder and wvbench (clean); RUN answering all."""
    data, run = root / "generated", root / "run"
    png = _png()
    variants = {"lbwild": [(VariantSpec(), _items("lbwild")), (TYPO, _items("lbwild", "Wht is shwn in {dataset} pictre {i}?"))],
                "lbwilder": [(VariantSpec(), _items("lbwilder"))], "wvbench": [(VariantSpec(), _items("wvbench"))]}
    for dataset, specs in variants.items():
        for spec, items in specs:
            path = variant_file(data, dataset, spec.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_rows(path, [item_to_row(item, spec, png, "png") for item in items])
            append_jsonl(predictions_file(run, dataset, spec.name),
                         [Prediction(it.id, dataset, spec.name, f"model answer {it.id} {spec.name}").to_dict() for it in items])
    (run / RUN_INFO).write_text(json.dumps({"model": "tiny", "data": str(data)}))
    return data, run


def responder(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):  # a reference request: image + question
        assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
        return f"  GPT-4o reference to: {content[1]['text']}  "
    return "8 6\nAssistant 1 named 3 things; Assistant 2 named 1."


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def _rule_files(server: FileServer, cache: Path) -> RuleFiles:
    def pinned(path: str, rules: dict) -> PinnedFile:
        body = json.dumps(rules).encode()
        server.files[path] = body
        return PinnedFile("rule.json", server.url(path), hashlib.sha256(body).hexdigest(), len(body))

    return RuleFiles(pinned("/llava/rule.json", RULES), pinned("/vittle/rule.json", VITTLE_RULES), cache)


def _judge_texts(server: FakeOpenAIServer) -> dict[str, str]:
    """"<item id> <variant>" of the model answer -> the judge prompt that graded it."""
    texts = {}
    for request in server.requests:
        text = last_user_text(request.body)
        match = re.search(r"model answer (\S+ \S+)\n", text)
        if match and isinstance(request.body["messages"][-1]["content"], str):
            texts[match.group(1)] = text
    return texts


def test_references_once_then_the_judge_uses_them_as_assistant_1(tmp_path: Path) -> None:
    data, run = build_wild_suite(tmp_path)
    with FakeOpenAIServer(responder) as server, FileServer({}) as files_server:
        args = ["references", str(data), "--base-url", server.base_url, "--model", "gpt-4o"]
        first = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert first.exit_code == 0, first.output
        assert "lbwild" in first.output and "wvbench" in first.output and "lbwilder" not in first.output
        sent = len(server.requests)
        assert sent == 6  # 3 lbwild + 3 wvbench items, clean variant only; LB-Wilder keeps its own
        again = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert again.exit_code == 0 and len(server.requests) == sent  # a rerun sends nothing

        stored = list(read_jsonl(data / "references" / "lbwild.jsonl"))
        assert [r["answer"] for r in stored] == [f"GPT-4o reference to: What is shown in lbwild picture {i}?" for i in range(3)]
        summary = read_json(data / "references" / "summary.json")["wvbench"]
        assert (summary["model"], summary["n_answered"], summary["n_failed"]) == ("gpt-4o", 3, 0)
        assert summary["usage"]["models"]["gpt-4o"]["cache_hits"] == 3  # the rerun's own usage
        assert summary["usage_total"]["models"]["gpt-4o"]["requests"] == 3
        assert summary["usage_total"]["estimated_cost_usd"] > 0
        assert KEY not in (data / "references" / "summary.json").read_text()

        endpoint = ChatEndpoint(model="gpt-4o", base_url=server.base_url, timeout_s=5.0)
        config = JudgeConfig(run_dir=run, endpoint=endpoint, runs=1,
                             rule_files=_rule_files(files_server, tmp_path / "cache"))
        payload = run_judge(config)
        texts = _judge_texts(server)

    assert payload["reference_answers"] == {"lbwild": "generated:gpt-4o", "lbwilder": "dataset",
                                            "wvbench": "generated:gpt-4o"}
    assert payload["judge_question"] == "perturbed" and payload["protocol"]["name"] == "vittle"
    wild = texts["lbwild-1 clean"]
    assert wild.startswith("[Context]\nA green picture.\n\n[Question]\nWhat is shown in lbwild picture 1?\n\n"
                           "[Assistant 1]\nGPT-4o reference to: What is shown in lbwild picture 1?\n\n"
                           "[End of Assistant 1]")
    assert wild.endswith("[System]\nWILD conv\n\n")
    assert texts["wvbench-0 clean"] == (
        "[Question]\nWhat is shown in wvbench picture 0?\n\n[Assistant 1]\nGPT-4o reference to: What is shown in "
        "wvbench picture 0?"
        "\n\n[End of Assistant 1]\n\n[Assistant 2]\nmodel answer wvbench-0 clean\n\n[End of Assistant 2]\n\n"
        "[System]\nNO CONTEXT\n\n")
    assert texts["lbwilder-2 clean"].startswith("[Question]\nWhat is shown in lbwilder picture 2?\n\n[Assistant 1]\n"
                                          "own reference lbwilder-2\n\n")
    scores = payload["datasets"]["wvbench"]["clean"]["mean_over_runs"]["overall"]
    assert scores["score"] == pytest.approx(100 * 6 / 8)  # the first-line pair, not the numbers below it
    typo = [j for j in read_jsonl(run / "judgments" / "lbwild" / "char_typo_s3.jsonl")]
    assert {j["judge_question"] for j in typo} == {"perturbed"}


def test_judge_question_clean_shows_the_clean_question_and_is_recorded(tmp_path: Path) -> None:
    data, run = build_wild_suite(tmp_path)
    with FakeOpenAIServer(responder) as server, FileServer({}) as files_server:
        endpoint = ChatEndpoint(model="gpt-4o", base_url=server.base_url, timeout_s=5.0)
        config = JudgeConfig(run_dir=run, endpoint=endpoint, runs=1, reference_answers="dataset",
                             rule_files=_rule_files(files_server, tmp_path / "cache"))
        perturbed = run_judge(config)
        typo_prompt = _judge_texts(server)["lbwild-0 char_typo_s3"]
        server.requests.clear()
        clean = run_judge(replace(config, judge_question="clean"))
        clean_prompt = _judge_texts(server)["lbwild-0 char_typo_s3"]
    assert "[Question]\nWht is shwn in lbwild pictre 0?\n\n" in typo_prompt
    assert "[Question]\nWhat is shown in lbwild picture 0?\n\n" in clean_prompt
    assert "[Assistant 1]\nown reference lbwild-0\n\n" in clean_prompt
    assert (perturbed["judge_question"], clean["judge_question"]) == ("perturbed", "clean")
    assert {j["judge_question"] for j in read_jsonl(run / "judgments" / "lbwild" / "char_typo_s3.jsonl")} == {"clean"}


def test_judging_lbwild_without_generated_references_says_what_to_run(tmp_path: Path) -> None:
    _, run = build_wild_suite(tmp_path)
    config = JudgeConfig(run_dir=run, endpoint=ChatEndpoint(base_url="http://127.0.0.1:9/v1"), prompt_name="robust-mllm")
    with pytest.raises(MissingResourceError, match=r"no generated reference answers for lbwild.*`robust-mllm references`"
                                                   r".*`reference_answers` dataset"):
        run_judge(config)
