"""Split a question into editable words and frozen pieces, and the base of the edit perturbations.

Character and word perturbations must not touch ``<image>``-style special tokens, nor the words a
caller protects (the object of a POPE question: changing "dog" would change the true answer).
``split_units`` cuts the text into units separated by the original whitespace, marking each unit
editable or frozen, and ``Units.join`` puts it back byte for byte; the edits work on the units only,
so casing, digits, punctuation and line breaks that were not chosen for change stay as they were.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robustbench_mllm.perturbations.base import Perturbation, check_severity

# <image>, <|im_start|>, </s>: no whitespace inside, at most 40 characters
SPECIAL_TOKEN = re.compile(r"<[^<>\s]{1,40}>")
POPE_QUESTION = re.compile(r"^\s*Is there an? (?P<object>.+?) in the image\s*\?\s*$", re.IGNORECASE)


@dataclass
class Units:
    """``seps[0] units[0] seps[1] ... units[-1] seps[-1]``; ``len(seps) == len(units) + 1``."""

    units: list[str]
    frozen: list[bool]
    seps: list[str] = field(default_factory=list)

    def join(self) -> str:
        return "".join(s + u for s, u in zip(self.seps[:-1], self.units, strict=True)) + self.seps[-1]

    def editable(self) -> list[int]:
        return [i for i, frozen in enumerate(self.frozen) if not frozen]


def _frozen_spans(text: str, protected: Sequence[str]) -> list[tuple[int, int]]:
    """Special tokens as they are, and each protected phrase widened to whole whitespace-separated
    words (so "dog?" stays "dog?"), merged into disjoint sorted spans."""
    spans = [m.span() for m in SPECIAL_TOKEN.finditer(text)]
    for phrase in protected:
        words = phrase.split()
        if not words:
            continue
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            start, end = match.span()
            while start > 0 and not text[start - 1].isspace():
                start -= 1
            while end < len(text) and not text[end].isspace():
                end += 1
            spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def split_units(text: str, protected: Sequence[str] = ()) -> Units:
    pieces: list[tuple[str, bool]] = []  # (text, frozen) in order, whitespace as its own piece
    cursor = 0
    for start, end in [*_frozen_spans(text, protected), (len(text), len(text))]:
        pieces.extend((p, False) for p in re.split(r"(\s+)", text[cursor:start]) if p)
        if end > start:
            pieces.append((text[start:end], True))
        cursor = end
    units = Units(units=[], frozen=[], seps=[""])
    for piece, frozen in pieces:
        if not frozen and piece.isspace():
            units.seps[-1] += piece
        else:
            units.units.append(piece)
            units.frozen.append(frozen)
            units.seps.append("")
    return units


def pope_object(question: str) -> str | None:
    """The object of a POPE question "Is there a X in the image?", else None."""
    match = POPE_QUESTION.match(question)
    return match.group("object") if match else None


def edit_count(size: int, probability: float) -> int:
    """How many of ``size`` tokens to change: ceil(p * size), at least 1 (nlpaug's rule)."""
    return max(1, math.ceil(probability * size)) if size else 0


class TextEditPerturbation(Perturbation):
    """A character or word edit. ``apply(text, severity, rng, protected=("dog",))`` keeps the
    protected phrases (and special tokens) intact; subclasses implement ``edit``."""

    modality = "text"

    def edit(self, units: Units, severity: int, rng: np.random.Generator) -> None:
        """Change ``units`` in place."""
        raise NotImplementedError

    def apply(
        self, value: str, severity: int, rng: np.random.Generator, *, protected: Sequence[str] = ()
    ) -> str:
        check_severity(severity)
        if not isinstance(value, str):
            raise TypeError(f"{self.name} perturbs text, got {type(value).__name__}")
        units = split_units(value, protected)
        if units.editable():
            self.edit(units, severity, rng)
        result = units.join()
        return result if result.strip() else value  # never an empty question
