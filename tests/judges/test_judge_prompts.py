"""Judge prompt layout, our default wording, and LLaVA's rule.json read from a user file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.judges.prompts import OWN_INSTRUCTION, load_rules, own_prompt
from robustbench_mllm.records import JudgeContext
from tests.fixtures.judge_run import lbcoco_items

COCO_ITEM = lbcoco_items(3)[1]  # category "detail", 5 captions + 2 boxes
WILD_ITEM = replace(COCO_ITEM, context=JudgeContext(captions=("A street at night.",)))


def test_own_prompt_layout_for_coco_and_in_the_wild() -> None:
    system, user = own_prompt().messages(COCO_ITEM, "the model says hi")
    assert system["role"] == "system" and user["role"] == "user"
    text = user["content"]
    assert text.startswith("[Context]\nA cat sits on a mat, caption 0.\n")
    assert "caption 4.\n\ncat: [0.1, 0.2, 0.5, 0.9]\nmat: [0.0, 0.7, 1.0, 1.0]\n\n[Question]" in text
    order = [text.index(s) for s in ("[Question]", "[Assistant 1]\nreference 1", "[Assistant 2]\nthe model says hi",
                                      f"[System]\n{OWN_INSTRUCTION}")]
    assert order == sorted(order)
    wild = own_prompt().messages(WILD_ITEM, "x")[1]["content"]
    assert wild.startswith("[Context]\nA street at night.\n\n[Question]")


def _rules(tmp_path: Path) -> Path:
    rules = {k: {"role": "Assistant", "prompt": f"RULE {k}"} for k in ("conv", "detail", "complex")}
    rules.update({f"llava_bench_{k}": {"role": "Assistant", "prompt": f"RULE wild {k}"} for k in ("conv", "detail")})
    rules["coding"] = {"role": "Assistant", "prompt": "unused"}
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(rules))
    return path


def test_rules_file_picks_the_rule_llava_would(tmp_path: Path) -> None:
    prompt = load_rules(_rules(tmp_path))
    assert prompt.prompt_id == f"llava-rules:{prompt.sha256[:12]}" and prompt.sha256 != own_prompt().sha256
    assert prompt.messages(COCO_ITEM, "a")[1]["content"].endswith("[System]\nRULE detail\n\n")
    assert prompt.messages(WILD_ITEM, "a")[1]["content"].endswith("[System]\nRULE wild detail\n\n")
    complex_wild = replace(WILD_ITEM, category="complex")  # no llava_bench_complex, no default: refused
    with pytest.raises(DataFormatError, match="no rule 'llava_bench_complex' for item 'q1'"):
        prompt.messages(complex_wild, "a")
    with pytest.raises(DataFormatError, match="no rule 'other' for item 'q1'"):
        prompt.messages(replace(COCO_ITEM, category="other"), "a")


def test_bad_rules_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "rule.json"
    path.write_text(json.dumps({"conv": {"role": "Assistant"}}))
    with pytest.raises(DataFormatError, match="rule.json: rule 'conv'"):
        load_rules(path)
    path.write_text(json.dumps({"coding": {"role": "A", "prompt": "p"}}))
    with pytest.raises(DataFormatError, match="no conv/detail/complex"):
        load_rules(path)
