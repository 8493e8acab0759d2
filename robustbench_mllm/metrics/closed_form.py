"""Multiple-choice option-letter extraction and exact-match accuracy (the prompt is built in
``robustbench_mllm.prompts``). Two parsers, chosen by the protocol's ``choice_parser``:

- ``scienceqa`` (``vittle``): the released ScienceQA scorer (Vittle's
  ``eval_science_qa_huggingface.py``). The answer is the letter when the whole answer is one of
  the letters A-L; else its first character when that is such a letter followed by ". "; else the
  letter of "The answer is X." when that pattern (regex ``The answer is ([A-Z]).``, the final dot
  any character) matches exactly once; else it fails. A letter beyond the item's options fails.
- ``lenient`` (``canonical``): accepts the forms models actually produce ("B", "b", "(B)",
  "B) cat", "The answer is (B).", "Answer: B", the option text itself) and refuses to read the
  article "A"/"a" in "A cat sits..." as option A.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.prompts import LETTERS, option_letters
from robustbench_mllm.protocols import ChoiceParser

# the released scorer's ``--options`` default
SCIENCEQA_LETTERS = "ABCDEFGHIJKL"
_SCIENCEQA_STATED = re.compile(r"The answer is ([A-Z]).")

_WHOLE = re.compile(r"^\W*\(?([A-Za-z])\)?\W*$")  # "B", "b.", "(B)", "**C**"
_STATED = re.compile(  # only the keywords are case-insensitive: "the answer is a cat" names no option
    r"(?i:answer|option|choice)\s*(?i:is|would be)?\s*[:\-]?\s*\(?([A-Z])\)?(?![A-Za-z])"
)
_LEADING = re.compile(r"^\W*\(?([A-Z])\s*[.):]")  # "B) cat", "B. cat", "(B) cat", "C: cat"
_PARENS = re.compile(r"\(([A-Z])\)")
_STANDALONE = re.compile(r"(?<![A-Za-z'])([A-Z])(?![A-Za-z'])")


def extract_option_letter(answer: str, choices: Sequence[str] = (), n_options: int | None = None) -> str | None:
    """The option letter an answer names, or None when it names none (or several).

    Valid letters are the first ``n_options`` (default: ``len(choices)``, else A-E)."""
    count = n_options or len(choices) or 5
    valid = option_letters(count)
    text = answer.strip()
    whole = _WHOLE.match(text)
    if whole and whole.group(1).upper() in valid:
        return whole.group(1).upper()
    for pattern in (_STATED, _LEADING, _PARENS):
        found = {m.upper() for m in pattern.findall(text)} & set(valid)
        if len(found) == 1:
            return found.pop()
    by_text = _match_choice_text(text, choices)
    if by_text is not None:
        return by_text
    # a lone capital letter anywhere, except the words "A" and "I" before a lower-case word
    candidates = {
        m.group(1)
        for m in _STANDALONE.finditer(text)
        if m.group(1) in valid and not (m.group(1) in "AI" and re.match(r"\s+[a-z]", text[m.end() :]))
    }
    return candidates.pop() if len(candidates) == 1 else None


def extract_scienceqa_letter(answer: str, n_options: int) -> str | None:
    """The letter the released ScienceQA scorer reads from ``answer``; None where it reads FAILED
    or a letter outside the first ``n_options``."""
    if len(answer) == 1 and answer in SCIENCEQA_LETTERS:
        letter = answer
    elif len(answer) >= 3 and answer[0] in SCIENCEQA_LETTERS and answer[1:3] == ". ":
        letter = answer[0]
    else:
        stated = _SCIENCEQA_STATED.findall(answer)
        letter = stated[0] if len(stated) == 1 else ""
    return letter if letter and letter in SCIENCEQA_LETTERS[:n_options] else None


def _match_choice_text(text: str, choices: Sequence[str]) -> str | None:
    """The letter of the one option whose text the answer is (or starts with)."""
    norm = _normalise(text)
    if not norm or not choices:
        return None
    exact = [LETTERS[i] for i, c in enumerate(choices) if _normalise(c) == norm]
    if len(exact) == 1:
        return exact[0]
    prefix = [LETTERS[i] for i, c in enumerate(choices) if _normalise(c) and norm.startswith(_normalise(c))]
    return prefix[0] if len(prefix) == 1 else None


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def read_letter(answer: str, choices: Sequence[str], parser: ChoiceParser) -> str | None:
    """The option letter ``parser`` reads (options given only inside the question: A-E)."""
    if parser == "scienceqa":
        return extract_scienceqa_letter(answer, len(choices) or 5)
    if parser == "lenient":
        return extract_option_letter(answer, choices)
    raise ConfigError(f"unknown choice parser {parser!r}: expected 'scienceqa' or 'lenient'")


def multiple_choice_report(
    rows: Iterable[tuple[str, str, Sequence[str]]], parser: ChoiceParser = "lenient"
) -> dict[str, float | int]:
    """Exact-match accuracy for (label letter, answer, choices) rows; unreadable answers are wrong."""
    n = correct = unparseable = 0
    for label, answer, choices in rows:
        n += 1
        letter = read_letter(answer, choices, parser)
        unparseable += letter is None
        correct += letter is not None and letter == label.strip().upper()
    return {"n": n, "correct": correct, "unparseable": unparseable, "accuracy": correct / n if n else 0.0}
