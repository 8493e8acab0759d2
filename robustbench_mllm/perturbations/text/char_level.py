"""Character-level perturbations: keyboard typos, random character deletion and insertion.

These follow nlpaug's KeyboardAug and RandomCharAug (the paper's tool) in what they change: words
of at least 4 characters are drawn, ceil(p_word * words) of them (at least one), and in each
ceil(p_char * length) characters (at least one); keyboard neighbours come from nlpaug's own English
table and inserted characters from RandomCharAug's default alphabet. They do not call nlpaug: it
draws from the process-wide ``random`` and ``np.random`` state (not from our per-item generator,
and not thread-safe) and its tokenizer cannot keep special tokens, protected words or the original
whitespace. Here every draw comes from the ``rng`` argument.
"""

from __future__ import annotations

import importlib.util
import json
import string
from functools import lru_cache
from pathlib import Path

import numpy as np

from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.perturbations.base import register_perturbation
from robustbench_mllm.perturbations.text.protect import TextEditPerturbation, Units, edit_count

MIN_WORD_CHARS = 4  # nlpaug's min_char: shorter words are never drawn
INSERT_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "!@#$%^&*()_+"


def word_probability(severity: int) -> float:
    return round(0.05 * severity, 2)


def char_probability(severity: int) -> float:
    return round(0.1 * severity, 2)


@lru_cache(maxsize=1)
def nlpaug_keyboard_table() -> dict[str, list[str] | str]:
    """nlpaug's English QWERTY table ``res/char/keyboard/en.json`` as it ships (the same in
    1.1.7 and 1.1.11): lower-case key -> neighbours."""
    spec = importlib.util.find_spec("nlpaug")  # locate, not import: importing nlpaug takes seconds
    if spec is None or not spec.submodule_search_locations:
        raise MissingResourceError("char_typo needs nlpaug's keyboard table: pip install nlpaug")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    table_file = package_dir / "res" / "char" / "keyboard" / "en.json"
    table: dict[str, list[str] | str] = json.loads(table_file.read_text(encoding="utf-8"))
    return table


@lru_cache(maxsize=1)
def keyboard_neighbours() -> dict[str, tuple[str, ...]]:
    """nlpaug's table, lower-case keys. Its entry for 'u' lists " t" where 'y' (the key left of
    'u', otherwise missing) belongs; taken as is it would inject a space and split the word, which
    is no longer a character typo, so we read it as 'y'."""
    table = nlpaug_keyboard_table()
    fixed = {"u": ["y" if n == " t" else n for n in table["u"]]}
    return {key: tuple(fixed.get(key, neighbours)) for key, neighbours in table.items()}


class CharEditPerturbation(TextEditPerturbation):
    """Draws words, then character positions in each; ``edit_word`` changes those positions."""

    category = "char"

    def params(self, severity: int) -> str:
        # ceil(p * count), at least 1 word and 1 character per word; words >= 4 characters
        return f"p_word={word_probability(severity)} p_char={char_probability(severity)}"

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        raise NotImplementedError

    def edit(self, units: Units, severity: int, rng: np.random.Generator) -> None:
        candidates = [i for i in units.editable() if len(units.units[i]) >= MIN_WORD_CHARS]
        if not candidates:
            return
        count = min(len(candidates), edit_count(len(units.units), word_probability(severity)))
        for index in sorted(rng.choice(candidates, size=count, replace=False).tolist()):
            word = units.units[index]
            # at most len - 1 positions, so a deletion never removes a whole word
            n_chars = min(len(word) - 1, edit_count(len(word), char_probability(severity)))
            positions = sorted(rng.choice(len(word), size=n_chars, replace=False).tolist())
            units.units[index] = self.edit_word(word, positions, rng)


@register_perturbation("char_typo")
class CharTypo(CharEditPerturbation):
    """Replace characters with a neighbouring key on a QWERTY keyboard (case kept)."""

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        table = keyboard_neighbours()
        chars = list(word)
        for position in positions:
            original = chars[position]
            neighbours = table.get(original.lower())
            if not neighbours:
                continue  # no key for it (e.g. a non-Latin letter): left as is
            typo = neighbours[int(rng.integers(len(neighbours)))]
            chars[position] = typo.upper() if original.isupper() else typo
        return "".join(chars)


@register_perturbation("char_delete")
class CharDelete(CharEditPerturbation):
    """Delete random characters (never a whole word)."""

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        drop = set(positions)
        return "".join(c for i, c in enumerate(word) if i not in drop)


@register_perturbation("char_insert")
class CharInsert(CharEditPerturbation):
    """Insert random characters (letters, digits, !@#$%^&*()_+) before the drawn positions."""

    def edit_word(self, word: str, positions: list[int], rng: np.random.Generator) -> str:
        chars = list(word)
        for position in reversed(positions):  # right to left keeps earlier positions valid
            chars.insert(position, INSERT_ALPHABET[int(rng.integers(len(INSERT_ALPHABET)))])
        return "".join(chars)
