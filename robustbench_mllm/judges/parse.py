"""Read the two 1-10 scores from a judge's reply, more forgivingly than LLaVA's parser.

Order, as LLaVA's parser reads the first line: a score pair on the first line wins ("8 7",
"8,7", "8, 7", "**8 7**", "8/10 7/10", "Scores: 8 and 7"), whatever the explanation below says
("9 3\\nAssistant 1: 3 of the 4 objects..." is (9, 3)). Otherwise "Assistant 1: 8 ... Assistant
2: 7" anywhere in the reply, then a scores line after a preamble. Anything else is ``None``: the
caller retries, then excludes and counts it (never scores it -1).
"""

from __future__ import annotations

import re

_NUMBER = r"(\d{1,2}(?:\.\d+)?)"
_OUT_OF = r"(?:\s*/\s*10)?"
_PAIR_LINE = re.compile(
    rf"^(?:[a-z ]{{0,24}}:)?\s*{_NUMBER}{_OUT_OF}\s*(?:,|;|\s|and|&|\|)\s*{_NUMBER}{_OUT_OF}\s*\.?$",
    re.IGNORECASE,
)
_LABELLED = {
    n: re.compile(
        rf"assistant\s*{n}(?:'s)?\s*(?:score|rating|grade)?\s*(?:[:=\-\u2013]|is)\s*{_NUMBER}{_OUT_OF}",
        re.IGNORECASE,
    )
    for n in (1, 2)
}
_MARKUP = re.compile(r"[*_`#>]")


def _in_range(a: float, b: float) -> tuple[float, float] | None:
    return (a, b) if 0 <= a <= 10 and 0 <= b <= 10 else None


def parse_scores(text: str) -> tuple[float, float] | None:
    """(reference score, model score) or None when the reply does not state both clearly."""
    cleaned = _MARKUP.sub("", text or "")
    lines = [line.strip() for line in cleaned.splitlines() if line.strip()]
    first = _PAIR_LINE.match(lines[0]) if lines else None
    if first:
        return _in_range(float(first.group(1)), float(first.group(2)))
    labelled = [pattern.search(cleaned) for pattern in (_LABELLED[1], _LABELLED[2])]
    if labelled[0] and labelled[1]:
        return _in_range(float(labelled[0].group(1)), float(labelled[1].group(1)))
    for line in lines[1:]:
        match = _PAIR_LINE.match(line)
        if match:
            return _in_range(float(match.group(1)), float(match.group(2)))
    return None


def is_parseable(text: str) -> bool:
    return parse_scores(text) is not None
