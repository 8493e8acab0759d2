"""Multiple-choice prompts and option-letter extraction on the answers models really give."""

from __future__ import annotations

import pytest

from robustbench_mllm.metrics.closed_form import (
    MC_SUFFIX,
    extract_option_letter,
    multiple_choice_prompt,
    multiple_choice_report,
)

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
    prompt = multiple_choice_prompt("What animal is this?", CHOICES)
    assert prompt.splitlines() == ["What animal is this?", "A. dog", "B. cat", "C. bird", "D. fish", MC_SUFFIX]
    assert multiple_choice_prompt("Q?\nA. x\nB. y", ()) == f"Q?\nA. x\nB. y\n{MC_SUFFIX}"


def test_accuracy_counts_unreadable_answers_as_wrong() -> None:
    report = multiple_choice_report([("B", "B", CHOICES), ("A", "(C)", CHOICES), ("D", "no idea", CHOICES)])
    assert report == {"n": 3, "correct": 1, "unparseable": 1, "accuracy": pytest.approx(1 / 3)}
