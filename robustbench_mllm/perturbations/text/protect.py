"""Split a question into editable words and frozen pieces, and the bases of the edit perturbations.

Character and word perturbations must not touch image placeholders and special tokens (``<image>``,
MMMU's ``<image 1>``, ``[IMG]``), nor the words a caller protects (the object of a POPE question:
changing "dog" would change the true answer). ``frozen_spans`` finds both. ``split_units`` cuts the
text into units separated by the original whitespace, marking each unit editable or frozen, and
``Units.join`` puts it back byte for byte; the canonical edits work on the units only, so casing,
digits, punctuation and line breaks that were not chosen for change stay as they were. The vittle
protocol's edits (``nlpaug_char``, ``eda``) tokenize as their reference tools do, around the same
frozen spans.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robustbench_mllm.perturbations.base import Perturbation, check_severity

SPECIAL_TOKEN = re.compile(
    r"(?:<[^<>\s]{1,40}>"  # <image>, <|im_start|>, </s>: no whitespace inside, at most 40 characters
    r"|<[A-Za-z]{1,20} \d{1,3}>"  # MMMU's numbered placeholders: <image 1>
    r"|\[[A-Z][A-Z0-9_]{0,19}\]"  # upper-case bracket tags: [IMG], [IMG1], [MASK]
    r"|\[(?i:img|image)[ _-]?\d{0,3}\])"  # [img], [image 2], [Image_3]
)
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


def frozen_spans(text: str, protected: Sequence[str]) -> list[tuple[int, int]]:
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


def segments(text: str, protected: Sequence[str] = ()) -> list[tuple[str, bool]]:
    """``text`` cut into consecutive ``(piece, frozen)`` pairs that join back to it: the frozen
    spans, and the free text between them."""
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for start, end in [*frozen_spans(text, protected), (len(text), len(text))]:
        if start > cursor:
            pieces.append((text[cursor:start], False))
        if end > start:
            pieces.append((text[start:end], True))
        cursor = end
    return pieces


def split_units(text: str, protected: Sequence[str] = ()) -> Units:
    pieces: list[tuple[str, bool]] = []  # (text, frozen) in order, whitespace as its own piece
    for piece, frozen in segments(text, protected):
        if frozen:
            pieces.append((piece, True))
        else:
            pieces.extend((p, False) for p in re.split(r"(\s+)", piece) if p)
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


class TextEdit(Perturbation):
    """A character or word edit. ``apply(text, severity, rng, protected=("dog",))`` keeps the
    protected phrases (and special tokens) intact; subclasses implement ``rewrite``."""

    modality = "text"

    def rewrite(self, text: str, severity: int, rng: np.random.Generator, protected: Sequence[str]) -> str:
        raise NotImplementedError

    def apply(
        self, value: str, severity: int, rng: np.random.Generator, *, protected: Sequence[str] = ()
    ) -> str:
        check_severity(severity)
        if not isinstance(value, str):
            raise TypeError(f"{self.name} perturbs text, got {type(value).__name__}")
        result = self.rewrite(value, severity, rng, protected)
        return result if result.strip() else value  # never an empty question


class TextEditPerturbation(TextEdit):
    """The canonical edits: they change whole whitespace-separated units (``edit``) and keep the
    rest of the text byte for byte."""

    def edit(self, units: Units, severity: int, rng: np.random.Generator) -> None:
        """Change ``units`` in place."""
        raise NotImplementedError

    def rewrite(self, text: str, severity: int, rng: np.random.Generator, protected: Sequence[str]) -> str:
        units = split_units(text, protected)
        if units.editable():
            self.edit(units, severity, rng)
        return units.join()
