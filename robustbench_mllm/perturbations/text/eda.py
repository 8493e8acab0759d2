"""The vittle protocol's word edits: EDA's random swap, deletion and insertion (``eda.py`` of
MM_Robustness, after Wei & Zou's eda_nlp) at rate ``0.05 * level`` (``mmr``), one output each.

EDA's semantics, every draw from our ``rng``:
- the question is cleaned (``only_chars``: apostrophes dropped, hyphens and tabs to spaces,
  lower case, every character but a-z a space, spaces collapsed), before the edit and after, so
  the output is lower case with no punctuation or digits ("What's this?" -> "whats this");
- n = max(1, int(rate * #words)) for swaps and insertions (rounded down);
- word_swap: n times, two random positions exchange their words; the second position is drawn
  again while it equals the first, at most 3 times (EDA draws a 4th and discards it), else that
  swap is skipped; any distance is possible (about 2 / #words of swaps are adjacent);
- word_delete: each word goes with probability rate (a coin per word, so at level 1 many
  questions come back whole); a 1-word question is untouched; when every word went, one random
  word of the question is kept;
- word_insert: n times, a random word of the current list is looked up (at most 9 lookups; EDA's
  10th is discarded) until one has WordNet synonyms, and its first synonym is inserted at a random
  position 0 .. len-1 (before an existing word: never at the end). Synonyms are all lemmas of all
  synsets, in WordNet's order (``lexicon.synset_lemma_names``), cleaned like the question, minus the
  word itself; EDA's own order is Python's set order, which differs from run to run, so "first"
  here is WordNet's first;
- with a similarity filter (``similarity``), a candidate is kept only if its cosine similarity to
  the original question is at least 0.9; up to 100 candidates, else the 100th.

Not the reference's: image placeholders and special tokens stay verbatim and in place, and the
words of a protected phrase (a POPE object) are cleaned but never swapped, deleted or looked up
(the reference would have lower-cased "<image 1>" into "image" and could delete the object, which
changes the true answer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.text.lexicon import load_wordnet
from robustbench_mllm.perturbations.text.mmr import mmr_rate
from robustbench_mllm.perturbations.text.protect import SPECIAL_TOKEN, TextEdit, segments
from robustbench_mllm.perturbations.text.similarity import SimilarityFilter

SWAP_DRAWS = 3  # usable draws of the second position
LOOKUPS = 9  # usable synonym lookups per insertion
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz ")


def only_chars(text: str) -> str:
    """EDA's ``get_only_chars`` (without its crash on an empty result, and without the trailing
    space it leaves where the text ended in punctuation: EDA splits the words out again anyway)."""
    text = text.replace("\u2019", "").replace("'", "").replace("-", " ").replace("\t", " ").replace("\n", " ")
    text = "".join(c if c in _LETTERS else " " for c in text.lower())
    return re.sub(" +", " ", text).strip()


def eda_synonyms(word: str) -> list[str]:
    """EDA's ``get_synonyms`` in WordNet order: cleaned lemma names, first occurrence kept, the
    word itself removed (an empty name, e.g. from "1", stays: it has synonyms, inserts nothing)."""
    names = (n.replace("_", " ").replace("-", " ").lower() for n in load_wordnet().synset_lemma_names(word))
    cleaned = dict.fromkeys("".join(c for c in n if c in _LETTERS) for n in names)
    cleaned.pop(word, None)
    return list(cleaned)


@dataclass(slots=True)
class _Word:
    text: str
    frozen: bool  # a placeholder or protected phrase: never moved, removed or looked up


def _words(text: str, protected: Sequence[str]) -> list[_Word]:
    words: list[_Word] = []
    for piece, frozen in segments(text, protected):
        if frozen:  # placeholders verbatim, a protected phrase's words cleaned
            parts = re.split(f"({SPECIAL_TOKEN.pattern})", piece)
            kept = " ".join(p if SPECIAL_TOKEN.fullmatch(p) else only_chars(p) for p in parts if p.strip())
            words.append(_Word(re.sub(" +", " ", kept).strip(), True))
        else:
            words.extend(_Word(w, False) for w in only_chars(piece).split())
    return [w for w in words if w.text]


def _render(words: Sequence[_Word]) -> str:
    return " ".join(w.text if w.frozen else only_chars(w.text) for w in words if w.text.strip()).strip()


def _pick(rng: np.random.Generator, size: int) -> int:
    return int(rng.integers(size))


class EdaWordEdit(TextEdit):
    category = "word"

    def params(self, severity: int) -> str:
        return f"EDA rate={mmr_rate(severity):.2f}"  # n = max(1, int(rate * words)); lower case

    def edit(self, words: list[_Word], rate: float, word_count: int, rng: np.random.Generator) -> list[_Word]:
        raise NotImplementedError

    def rewrite(self, text: str, severity: int, rng: np.random.Generator, protected: Sequence[str]) -> str:
        words = _words(text, protected)
        return _render(self.edit(words, mmr_rate(severity), len(only_chars(text).split()), rng))

    def apply(
        self, value: str, severity: int, rng: np.random.Generator, *, protected: Sequence[str] = (),
        similarity: SimilarityFilter | None = None,
    ) -> str:
        """With ``similarity``, candidates are drawn until one is close enough to ``value``."""
        if similarity is None:
            return super().apply(value, severity, rng, protected=protected)
        return similarity.choose(value, lambda: super(EdaWordEdit, self).apply(value, severity, rng, protected=protected))


def eda_count(rate: float, word_count: int) -> int:
    return max(1, int(rate * word_count))


@register_perturbation("word_swap", protocol="vittle")
class RandomSwap(EdaWordEdit):
    """EDA random swap: n exchanges of two random positions."""

    def edit(self, words: list[_Word], rate: float, word_count: int, rng: np.random.Generator) -> list[_Word]:
        slots = [i for i, w in enumerate(words) if not w.frozen]
        if not slots:
            return words
        for _ in range(eda_count(rate, word_count)):
            first = _pick(rng, len(slots))
            for _ in range(SWAP_DRAWS):
                second = _pick(rng, len(slots))
                if second != first:
                    a, b = slots[first], slots[second]
                    words[a], words[b] = words[b], words[a]
                    break
        return words


@register_perturbation("word_delete", protocol="vittle")
class RandomDeletion(EdaWordEdit):
    """EDA random deletion: each word is dropped with probability rate."""

    def edit(self, words: list[_Word], rate: float, word_count: int, rng: np.random.Generator) -> list[_Word]:
        editable = [w for w in words if not w.frozen]
        if word_count == 1 or not editable:
            return words
        kept = [w for w in words if w.frozen or rng.random() > rate]
        if not any(not w.frozen for w in kept):  # every word went: one random word of the question stays
            survivor = editable[_pick(rng, len(editable))]
            kept = [w for w in words if w.frozen or w is survivor]
        return kept


@register_perturbation("word_insert", protocol="vittle")
class RandomInsertion(EdaWordEdit):
    """EDA random insertion: n times, the first WordNet synonym of a random word, inserted before
    a random word."""

    def params(self, severity: int) -> str:
        return super().params(severity) + " WordNet"

    def edit(self, words: list[_Word], rate: float, word_count: int, rng: np.random.Generator) -> list[_Word]:
        for _ in range(eda_count(rate, word_count)):
            editable = [w for w in words if not w.frozen]
            if not editable:
                break
            for _ in range(LOOKUPS):
                synonyms = eda_synonyms(editable[_pick(rng, len(editable))].text)
                if synonyms:
                    words.insert(_pick(rng, len(words)), _Word(synonyms[0], False))
                    break
        return words
