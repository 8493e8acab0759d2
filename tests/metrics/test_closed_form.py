"""Multiple-choice prompts and option-letter extraction on the answers models really give."""

from __future__ import annotations

import pytest

from robustbench_mllm.metrics.closed_form import extract_option_letter, multiple_choice_report
from robustbench_mllm.prompts import multiple_choice_prompt, prompt_for
from robustbench_mllm.protocols import CANONICAL, LLAVA_CHOICE_SUFFIX, PAPER_CHOICE_SUFFIX, VITTLE
from robustbench_mllm.records import Item

CHOICES = ("dog", "cat", "bird", "fish")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", "B"),
        ("b", "B"),
        ("(C)", "C"),
        ("The answer is (B).", "B"),
        ("Answer: D", "D"),
        ("B) cat", "B"),
        ("C. bird", "C"),
        ("**A**", "A"),
        ("a", "A"),  # a lone letter is the letter, whatever its case
        ("Option C is correct.", "C"),
        ("I think it is D.", "D"),
        ("cat", "B"),  # the option text itself
        ("A cat is sitting on the mat.", None),  # the article, not option A
        ("The answer is a cat.", None),  # lower-case article after "answer is"
        ("E", None),  # only four options
        ("I don't know", None),
        ("", None),
    ],
)
def test_extract_option_letter(answer: str, expected: str | None) -> None:
    assert extract_option_letter(answer, CHOICES) == expected


def test_prompt_lists_options_and_suffix() -> None:
    suffix = "Answer with the letter."
    prompt = multiple_choice_prompt("What animal is this?", CHOICES, suffix)
    assert prompt.splitlines() == ["What animal is this?", "A. dog", "B. cat", "C. bird", "D. fish", suffix]
    assert multiple_choice_prompt("Q?\nA. x\nB. y", (), suffix) == f"Q?\nA. x\nB. y\n{suffix}"


def test_each_protocol_sends_its_own_suffixes() -> None:
    pope = Item(id="1", dataset="pope", split="random", question="Is there a dog in the image?", image=None, image_id="i", label="yes")
    assert prompt_for(pope, "yes_no", VITTLE) == "Is there a dog in the image?\nAnswer the question using a single word or phrase."
    assert prompt_for(pope, "yes_no", CANONICAL) == "Is there a dog in the image?"
    mc = Item(id="2", dataset="sqa", split="test", question="Which?", image=None, image_id="i", label="A", choices=("x", "y"))
    assert prompt_for(mc, "multiple_choice", VITTLE) == f"Which?\nA. x\nB. y\n{PAPER_CHOICE_SUFFIX}"
    assert prompt_for(mc, "multiple_choice", CANONICAL) == f"Which?\nA. x\nB. y\n{LLAVA_CHOICE_SUFFIX}"
    assert prompt_for(pope, "open_ended", VITTLE) == pope.question


def test_accuracy_counts_unreadable_answers_as_wrong() -> None:
    report = multiple_choice_report([("B", "B", CHOICES), ("A", "(C)", CHOICES), ("D", "no idea", CHOICES)])
    assert report == {"n": 3, "correct": 1, "unparseable": 1, "accuracy": pytest.approx(1 / 3)}
