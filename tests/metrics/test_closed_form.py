"""Multiple-choice prompts and option-letter extraction on the answers models really give."""

from __future__ import annotations

import re

import pytest

from robustbench_mllm.metrics.closed_form import (
    extract_option_letter,
    extract_scienceqa_letter,
    multiple_choice_report,
)
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


# The released ScienceQA scorer's rule, step by step: options A-L; the whole answer one of them,
# else "X. " at the start, else exactly one match of r"The answer is ([A-Z])." ("." any
# character), else FAILED; a letter beyond the item's options counts as FAILED.
RELEASED_OPTIONS = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"]


def released_letter(answer: str, n_choices: int) -> str | None:
    if answer in RELEASED_OPTIONS:
        letter = answer
    elif len(answer) >= 3 and answer[0] in RELEASED_OPTIONS and answer[1:3] == ". ":
        letter = answer[0]
    else:
        found = re.findall(r"The answer is ([A-Z]).", answer)
        letter = found[0] if len(found) == 1 else "FAILED"
    return letter if letter in RELEASED_OPTIONS[:n_choices] else None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", "B"),  # the exact letter
        ("D", "D"),
        ("b", None),  # lower case is no option letter
        ("E", None),  # a fifth letter with four options
        ("C. bird", "C"),  # "X. " prefix
        ("C.bird", None),  # the prefix needs the space
        ("The answer is B.", "B"),  # one stated answer
        ("The answer is B", None),  # the pattern needs one character after the letter
        ("I think The answer is A, surely", "A"),  # "." matches any character
        ("The answer is A. The answer is C.", None),  # two matches: failed
        ("The answer is (B).", None),  # parentheses: no match
        ("(C)", None),
        ("Answer: D", None),
        ("cat", None),  # the option text is not read
        ("AB", None),
        ("", None),
    ],
)
def test_scienceqa_parser_is_the_released_rule(answer: str, expected: str | None) -> None:
    assert released_letter(answer, len(CHOICES)) == expected  # the table follows the stated rule
    assert extract_scienceqa_letter(answer, len(CHOICES)) == expected


def test_each_protocol_scores_with_its_parser() -> None:
    rows = [("B", "B", CHOICES), ("B", "(B)", CHOICES), ("C", "The answer is C.", CHOICES), ("A", "cat", CHOICES)]
    paper = multiple_choice_report(rows, "scienceqa")
    assert paper == {"n": 4, "correct": 2, "unparseable": 2, "accuracy": pytest.approx(2 / 4)}
    lenient = multiple_choice_report(rows, "lenient")  # "(B)" is read; "cat" is option B, wrong
    assert lenient == {"n": 4, "correct": 3, "unparseable": 0, "accuracy": pytest.approx(3 / 4)}
