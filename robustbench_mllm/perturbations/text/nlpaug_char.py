"""The vittle protocol's character edits: nlpaug 1.1.7's KeyboardAug (char_typo) and RandomCharAug
'delete' / 'insert' (char_delete, char_insert) as MM_Robustness ran them, with only
``aug_word_p = 0.05 * level`` set (``mmr``) and every other setting at 1.1.7's default.

The behaviour, re-implemented with every draw from our ``rng`` (nlpaug draws from the process-wide
``random`` module, which our per-item seeding and worker processes must not depend on; a test
compares the statistics of this module's output with nlpaug 1.1.7's own):
- tokens: ``re.split(r"(\\W)")`` minus blank pieces, so punctuation marks are tokens of their own;
  the output is the tokens joined by spaces with ``.,:;?!%`` and brackets re-attached, so
  "What's" comes back "What ' s" even when nothing was drawn;
- words: ``int(0.05 * level * #tokens)`` (punctuation included), at least 1 and at most 10, of the
  tokens with 4 characters or more, drawn without replacement;
- characters of each drawn word: ``int(0.3 * length)``, at least 1 and at most 10, of the positions
  the edit can act on (char_typo: characters with a key in the table), drawn without replacement;
- char_typo: a uniform choice among the key's neighbours in nlpaug's table widened with upper-case
  copies (``include_upper_case``): "a" may become "S", "A" may become "a". The table's entry for
  "u" holds " t", so a "u" may become a space and a "t": kept, it is what the reference produced;
- char_delete removes the drawn characters; char_insert puts a random character of A-Z, a-z, 0-9,
  ``!@#$%^&*()_+`` before each drawn position.

Not the reference's: image placeholders, special tokens and protected phrases (``protect``) are
single tokens that are never drawn (they count as the tokens nlpaug would have cut them into), and
line breaks are kept (nlpaug would join the lines; the reference's captions had none).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.text.char_level import nlpaug_keyboard_table
from robustbench_mllm.perturbations.text.mmr import mmr_rate
from robustbench_mllm.perturbations.text.protect import TextEdit, segments

TOKEN_SPLIT = re.compile(r"(\W)")
DETOKENIZE = (  # nlpaug's reverse tokenizer, in its order
    (re.compile(r"\s([.,:;?!%]+)([ '\"`])"), r"\1\2"),
    (re.compile(r"\s([.,:;?!%]+)$"), r"\1"),
    (re.compile(r"\s([\[\(\{\<])\s"), r" \g<1>"),
    (re.compile(r"\s([\]\)\}\>])\s"), r"\g<1> "),
)
CHAR_P = 0.3
MIN_COUNT, MAX_COUNT = 1, 10  # aug_word_min/max and aug_char_min/max
MIN_CHAR = 4
RANDOM_CHARS = string.ascii_uppercase + string.ascii_lowercase + string.digits + "!@#$%^&*()_+"
_SENTINEL = 0xF0000  # private-use code points stand in for frozen tokens while re-attaching


def tokenize(text: str) -> list[str]:
    return [t for t in TOKEN_SPLIT.split(text) if t.strip()]


def detokenize(tokens: Sequence[str]) -> str:
    text = " ".join(tokens)
    for pattern, replacement in DETOKENIZE:
        text = pattern.sub(replacement, text)
    return text.strip()


def aug_count(size: int, probability: float) -> int:
    """nlpaug 1.1.7's count: ``int(p * size)`` clamped to [1, 10] (1.1.11 rounds up instead)."""
    return min(max(int(probability * size), MIN_COUNT), MAX_COUNT)


@lru_cache(maxsize=1)
def keyboard_model() -> dict[str, tuple[str, ...]]:
    """nlpaug's ``Keyboard`` model with special characters, digits and upper case included: each
    key and its upper-case form map to every neighbour in both cases, minus the key itself."""
    result: dict[str, list[str]] = {}
    for key, values in nlpaug_keyboard_table().items():
        result[key], result[key.upper()] = [], []  # digits and signs are their own upper case
        for value in values:  # one entry ("%") is a bare string: its characters are its values
            result[key] += [value, value.upper()]
            result[key.upper()] += [value, value.upper()]
    return {key: tuple(sorted({v for v in values if v != key})) for key, values in result.items() if values}


@dataclass(slots=True)
class _Token:
    text: str
    frozen: bool
    line: int  # output line: line breaks are kept


def _tokens(text: str, protected: Sequence[str]) -> list[_Token]:
    tokens: list[_Token] = []
    line = 0
    for piece, frozen in segments(text, protected):
        if frozen:
            tokens.append(_Token(piece, True, line))
            line += piece.count("\n")
            continue
        for offset, part in enumerate(piece.split("\n")):
            tokens.extend(_Token(t, False, line + offset) for t in tokenize(part))
        line += piece.count("\n")
    return tokens


def _render(tokens: Sequence[_Token], lines: int) -> str:
    frozen = {chr(_SENTINEL + i): t.text for i, t in enumerate(tokens) if t.frozen}
    by_line: list[list[str]] = [[] for _ in range(lines)]
    for i, token in enumerate(tokens):
        by_line[token.line].append(chr(_SENTINEL + i) if token.frozen else token.text)
    text = "\n".join(detokenize(line) for line in by_line).strip()
    return re.sub(f"[{chr(_SENTINEL)}-{chr(_SENTINEL + len(tokens))}]", lambda m: frozen[m.group()], text)


def _draw(rng: np.random.Generator, candidates: Sequence[int], count: int) -> list[int]:
    return rng.choice(np.asarray(candidates), size=min(count, len(candidates)), replace=False).tolist()


class NlpaugCharEdit(TextEdit):
    category = "char"

    def params(self, severity: int) -> str:
        # int(p * count) in [1, 10] words of >= 4 characters, and characters per word
        return f"nlpaug 1.1.7 p_word={mmr_rate(severity):.2f} p_char={CHAR_P}"

    def positions(self, word: str) -> list[int]:
        """The character positions the edit may act on."""
        return list(range(len(word)))

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        raise NotImplementedError

    def rewrite(self, text: str, severity: int, rng: np.random.Generator, protected: Sequence[str]) -> str:
        if not text.strip():
            return text
        tokens = _tokens(text, protected)
        eligible = [i for i, t in enumerate(tokens) if not t.frozen and len(t.text) >= MIN_CHAR]
        for index in _draw(rng, eligible, aug_count(len(tokenize(text)), mmr_rate(severity))):
            word = tokens[index].text
            chosen = _draw(rng, self.positions(word), aug_count(len(word), CHAR_P))
            tokens[index].text = self.edit_word(word, sorted(chosen, reverse=True), rng)
        return _render(tokens, text.count("\n") + 1)


@register_perturbation("char_typo", protocol="vittle")
class KeyboardTypo(NlpaugCharEdit):
    """nlpaug KeyboardAug: drawn characters become a neighbouring key, either case."""

    def positions(self, word: str) -> list[int]:
        model = keyboard_model()
        return [i for i, c in enumerate(word) if model.get(c)]

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        model = keyboard_model()
        chars = list(word)
        for i in positions:
            options = model[chars[i]]
            chars[i] = options[int(rng.integers(len(options)))]
        return "".join(chars)


@register_perturbation("char_delete", protocol="vittle")
class RandomCharDelete(NlpaugCharEdit):
    """nlpaug RandomCharAug('delete'): the drawn characters are removed."""

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        drop = set(positions)
        return "".join(c for i, c in enumerate(word) if i not in drop)


@register_perturbation("char_insert", protocol="vittle")
class RandomCharInsert(NlpaugCharEdit):
    """nlpaug RandomCharAug('insert'): a random character goes before each drawn position."""

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        chars = list(word)
        for i in positions:  # right to left, as nlpaug inserts
            chars.insert(i, RANDOM_CHARS[int(rng.integers(len(RANDOM_CHARS)))])
        return "".join(chars)
