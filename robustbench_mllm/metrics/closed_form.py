"""Multiple-choice option-letter extraction and exact-match accuracy (the prompt is built in
``robustbench_mllm.prompts``).

Extraction accepts the forms models actually
produce ("B", "b", "(B)", "B) cat", "The answer is (B).", "Answer: B", the option text itself) and
refuses to read the article "A"/"a" in "A cat sits..." as option A.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from robustbench_mllm.prompts import LETTERS, option_letters


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


def multiple_choice_report(rows: Iterable[tuple[str, str, Sequence[str]]]) -> dict[str, float | int]:
    """Exact-match accuracy for (label letter, answer, choices) rows; unreadable answers are wrong."""
    n = correct = unparseable = 0
    for label, answer, choices in rows:
        n += 1
        letter = extract_option_letter(answer, choices)
        unparseable += letter is None
        correct += letter is not None and letter == label.strip().upper()
    return {"n": n, "correct": correct, "unparseable": unparseable, "accuracy": correct / n if n else 0.0}
