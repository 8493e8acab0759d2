"""The paper's judge prompts: rule.json fetched pinned (local server here), and the text sent is
byte for byte what the released review scripts build (their layout is re-stated in this test)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from robustbench_mllm.downloads import PinnedFile, cached_path
from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.judges.official_rules import RuleFiles, judge_prompt, paper_prompt
from robustbench_mllm.judges.prompts import SYSTEM, own_prompt
from robustbench_mllm.records import Item, JudgeContext
from robustbench_mllm.sources.llava_qa90 import LlavaQA90
from tests.fixtures.file_server import FileServer

RELEASED_SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
COCO_RULE = "We would like feedback; five descriptive sentences and bounding boxes. Output two scores."
WILD_RULE = "We would like feedback; a few sentences describing the image. Output two scores."
NO_CONTEXT_RULE = "We would like feedback; the user asks on observing an image. Output two scores."
LLAVA = {**{k: {"role": "Assistant", "prompt": COCO_RULE} for k in ("conv", "detail", "complex")},
         **{f"llava_bench_{k}": {"role": "Assistant", "prompt": WILD_RULE} for k in ("conv", "detail", "complex")},
         "default": {"role": "Assistant", "prompt": "generic"}}
VITTLE = {**LLAVA, "llava_bench_wilder": {"role": "Assistant", "prompt": NO_CONTEXT_RULE},
          "wildvision_bench": {"role": "Assistant", "prompt": NO_CONTEXT_RULE}}
CONTEXT_LINES = [  # rows of caps_boxes_coco2014_val_80.jsonl, as LLaVA ships them
    '{"id": "000000296284", "image": "000000296284.jpg", "captions": ["A donut shop.", "Donuts in a case."], '
    '"instances": [{"category": "donut", "bbox": [0.002, 0.31, 0.994, 0.996]}, '
    '{"category": "donut", "bbox": [0.0, 0.609, 0.097, 0.722]}]}',
    '{"id": "000000151358", "image": "000000151358.jpg", "captions": ["A newspaper.", "Sunglasses on it.", '
    '"An apple."], "instances": [{"category": "tie", "bbox": [0.258, 0.074, 0.527, 0.589]}, '
    '{"category": "apple", "bbox": [0.621, 0.482, 0.853, 0.645]}, {"category": "book", "bbox": [0.1, 0.25, 0.333, 1.0]}]}',
]
QUESTIONS = [
    {"question_id": 0, "image": "000000296284.jpg", "text": "What is in the case?", "category": "conv"},
    {"question_id": 1, "image": "000000296284.jpg", "text": "Describe the image in detail.", "category": "detail"},
    {"question_id": 2, "image": "000000151358.jpg", "text": "Why might the owner read here?", "category": "complex"},
]
ANSWERS = [{"question_id": q["question_id"], "text": f"GPT-4 answer {q['question_id']}.\nSecond line.",
            "category": q["category"]} for q in QUESTIONS]


def released_coco_content(context_line: str, question: dict, answer1: str, answer2: str, rules: dict) -> str:
    """eval_gpt_review_visual.py's content, from the JSON rows as the script reads them."""
    inst = json.loads(context_line)
    cap_str = "\n".join(inst["captions"])
    box_str = "\n".join([f'{instance["category"]}: {instance["bbox"]}' for instance in inst["instances"]])
    rule = rules[question["category"]]
    role = rule["role"]
    return (f"[Context]\n{cap_str}\n\n{box_str}\n\n"
            f"[Question]\n{question['text']}\n\n"
            f"[{role} 1]\n{answer1}\n\n[End of {role} 1]\n\n"
            f"[{role} 2]\n{answer2}\n\n[End of {role} 2]\n\n"
            f"[System]\n{rule['prompt']}\n\n")


def _pinned(server: FileServer, path: str, body: bytes) -> PinnedFile:
    return PinnedFile("rule.json", server.url(path), hashlib.sha256(body).hexdigest(), len(body), "test rules")


@pytest.fixture()
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    llava, vittle = (json.dumps(r, indent=4).encode() for r in (LLAVA, VITTLE))
    with FileServer({"/llava/rule.json": llava, "/vittle/rule.json": vittle}) as server:
        files = RuleFiles(_pinned(server, "/llava/rule.json", llava), _pinned(server, "/vittle/rule.json", vittle),
                          cache_dir=tmp_path / "cache")
        yield server, files


def _qa90_items(tmp_path: Path) -> list[Item]:
    from PIL import Image

    folder, images = tmp_path / "qa90", tmp_path / "val2014"
    folder.mkdir()
    images.mkdir()
    for name in ("000000296284", "000000151358"):
        Image.new("RGB", (8, 8)).save(images / f"COCO_val2014_{name}.jpg")
    (folder / "qa90_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    (folder / "qa90_gpt4_answer.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ANSWERS))
    (folder / "caps_boxes_coco2014_val_80.jsonl").write_text("\n".join(CONTEXT_LINES) + "\n")
    return list(LlavaQA90.from_folder(folder, images).load())


def test_coco_prompts_are_byte_identical_to_the_released_script(tmp_path: Path, served) -> None:  # type: ignore[no-untyped-def]
    server, files = served
    prompt = paper_prompt(no_context=False, files=files)
    items = _qa90_items(tmp_path)
    context_of = {"000000296284.jpg": CONTEXT_LINES[0], "000000151358.jpg": CONTEXT_LINES[1]}
    for question, item in zip(QUESTIONS, items):
        model_answer = f"The model's answer to {question['question_id']}."
        system, user = prompt.messages(item, model_answer)
        expected = released_coco_content(context_of[question["image"]], question,
                                         ANSWERS[question["question_id"]]["text"], model_answer, LLAVA)
        assert user["content"].encode("utf-8") == expected.encode("utf-8")
        assert system == {"role": "system", "content": RELEASED_SYSTEM} and SYSTEM == RELEASED_SYSTEM
    assert "donut: [0.002, 0.31, 0.994, 0.996]\ndonut: [0.0, 0.609, 0.097, 0.722]\n" in \
        prompt.messages(items[0], "x")[1]["content"]
    assert prompt.sources == (files.llava.url,) and server.requests == ["/llava/rule.json"]


def test_in_the_wild_layouts_follow_the_released_bench_and_wilder_scripts(served) -> None:  # type: ignore[no-untyped-def]
    server, files = served
    prompt = paper_prompt(no_context=True, files=files)
    assert sorted(server.requests) == ["/llava/rule.json", "/vittle/rule.json"]
    wild = Item(id="7", dataset="lbwild", split="test", question="What is odd?", image=None, image_id="i",
                reference_answer="ref", category="complex", context=JudgeContext(captions=("A street.", "At night.")))
    role = "Assistant"
    # eval_gpt_review_bench.py: captions only, rule llava_bench_<category>
    assert prompt.messages(wild, "ans")[1]["content"] == (
        f"[Context]\nA street.\nAt night.\n\n[Question]\nWhat is odd?\n\n[{role} 1]\nref\n\n[End of {role} 1]\n\n"
        f"[{role} 2]\nans\n\n[End of {role} 2]\n\n[System]\n{WILD_RULE}\n\n")
    # LB-Wilder / WV-Bench: no context; the rule without the context sentence
    for dataset in ("lbwilder", "wvbench"):
        text = prompt.messages(replace(wild, dataset=dataset), "ans", reference="gpt-4o ref")[1]["content"]
        assert text == (f"[Question]\nWhat is odd?\n\n[{role} 1]\ngpt-4o ref\n\n[End of {role} 1]\n\n"
                        f"[{role} 2]\nans\n\n[End of {role} 2]\n\n[System]\n{NO_CONTEXT_RULE}\n\n")


def test_cached_rules_send_no_request_and_a_wrong_hash_is_refused(tmp_path: Path, served) -> None:  # type: ignore[no-untyped-def]
    server, files = served
    first = paper_prompt(no_context=False, files=files)
    assert cached_path(files.llava, files.cache_dir).is_file()
    again = paper_prompt(no_context=False, files=files)
    assert again == first and server.requests == ["/llava/rule.json"]  # the second came from the cache

    tampered = replace(files, llava=replace(files.llava, sha256="0" * 64), cache_dir=tmp_path / "other")
    with pytest.raises(DataFormatError) as refused:
        paper_prompt(no_context=False, files=tampered)
    message = str(refused.value)
    assert "\n" not in message and "sha256" in message and "refused" in message and files.llava.url in message
    assert not cached_path(tampered.llava, tampered.cache_dir).exists()


def test_offline_and_uncached_says_so_in_one_line_with_both_ways_out(tmp_path: Path) -> None:
    from robustbench_mllm.cli.common import option_flags, user_message
    from robustbench_mllm.cli.judge import judge

    with FileServer({}) as server:  # answers 404 to everything
        files = RuleFiles(PinnedFile("rule.json", server.url("/gone"), "a" * 64), cache_dir=tmp_path)
        with pytest.raises(MissingResourceError) as missing:
            judge_prompt("llava_rules", files=files)
    shown = user_message(missing.value, option_flags(judge))
    assert "\n" not in shown and "not in the cache" in shown
    assert "--rules FILE" in shown and "--prompt robust-mllm" in shown


def test_a_local_rules_file_or_our_prompt_needs_no_download(tmp_path: Path) -> None:
    rules = tmp_path / "rule.json"
    rules.write_text(json.dumps(LLAVA))
    unreachable = RuleFiles(PinnedFile("rule.json", "http://127.0.0.1:9/none", "a" * 64), cache_dir=tmp_path)
    local = judge_prompt("llava_rules", rules=rules, files=unreachable)
    assert local.sources == (str(rules),) and local.rules["conv"].prompt == COCO_RULE
    assert judge_prompt("robust-mllm", files=unreachable) == own_prompt()
