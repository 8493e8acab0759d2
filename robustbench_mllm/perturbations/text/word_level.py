"""Word-level perturbations: swap adjacent words, delete words, insert synonyms.

The count of changed words is ceil(0.05 * severity * words), at least one, as nlpaug's
RandomWordAug draws it; the edits move whole units (see ``protect``), so frozen units stay where
they are and whitespace between words is kept. Like the character edits they draw only from the
``rng`` argument (nlpaug would draw from global state; its word insertion needs a hub model).
"""

from __future__ import annotations

import re

import numpy as np

from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.text.char_level import word_probability
from robustbench_mllm.perturbations.text.lexicon import load_wordnet
from robustbench_mllm.perturbations.text.protect import TextEditPerturbation, Units, edit_count

_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")


class WordEditPerturbation(TextEditPerturbation):
    category = "word"

    def params(self, severity: int) -> str:
        return f"p_word={word_probability(severity)}"  # ceil(p * words) words, at least 1

    def count(self, units: Units, severity: int) -> int:
        return edit_count(len(units.units), word_probability(severity))


@register_perturbation("word_swap")
class WordSwap(WordEditPerturbation):
    """Swap drawn words with an adjacent editable word."""

    def edit(self, units: Units, severity: int, rng: np.random.Generator) -> None:
        editable = units.editable()
        if len(editable) < 2:
            return
        count = min(len(editable), self.count(units, severity))
        for k in rng.choice(len(editable), size=count, replace=False).tolist():
            if k == 0:
                other = 1
            elif k == len(editable) - 1:
                other = k - 1
            else:
                other = k + (1 if rng.random() < 0.5 else -1)
            a, b = editable[k], editable[other]
            units.units[a], units.units[b] = units.units[b], units.units[a]


def _merge_separators(units: Units, index: int) -> str:
    """The one separator left where unit ``index`` is removed: the leading or trailing one at the
    ends, else the one holding a line break if either does."""
    before, after = units.seps[index], units.seps[index + 1]
    if index == 0:
        return before
    if index == len(units.units) - 1:
        return after
    return after if "\n" in after and "\n" not in before else before


@register_perturbation("word_delete")
class WordDelete(WordEditPerturbation):
    """Delete drawn words; at least one editable word always remains."""

    def edit(self, units: Units, severity: int, rng: np.random.Generator) -> None:
        editable = units.editable()
        count = min(len(editable) - 1, self.count(units, severity))
        if count <= 0:
            return
        for index in sorted(rng.choice(editable, size=count, replace=False).tolist(), reverse=True):
            merged = _merge_separators(units, index)
            del units.units[index], units.frozen[index]
            units.seps[index : index + 2] = [merged]


@register_perturbation("word_insert")
class WordInsert(WordEditPerturbation):
    """Insert a WordNet synonym of a drawn word at a random position (a copy of the word when no
    word of the question has a synonym)."""

    def params(self, severity: int) -> str:
        return super().params(severity) + " WordNet"

    def edit(self, units: Units, severity: int, rng: np.random.Generator) -> None:
        wordnet = load_wordnet()
        options: list[tuple[str, ...]] = []
        for index in units.editable():
            word = units.units[index]
            core = _EDGE_PUNCTUATION.sub("", word)
            options.append(wordnet.synonyms(core) if core else ())
        with_synonyms = [o for o in options if o]
        if not with_synonyms:
            with_synonyms = [(_EDGE_PUNCTUATION.sub("", units.units[i]) or units.units[i],)
                             for i in units.editable()]
        for _ in range(self.count(units, severity)):
            synonyms = with_synonyms[int(rng.integers(len(with_synonyms)))]
            word = synonyms[int(rng.integers(len(synonyms)))]
            position = int(rng.integers(len(units.units) + 1))
            old = units.seps[position]
            units.seps[position : position + 1] = (
                [" ", old] if position == len(units.units) else [old, " "]
            )
            units.units.insert(position, word)
            units.frozen.insert(position, False)
