"""Synonyms from the WordNet 3.0 database files, read directly (no download, no hub).

The files come from Debian's ``wordnet-base`` package (``/usr/share/wordnet``; scripts/setup.sh
installs it) or any folder holding ``index.<pos>``/``data.<pos>`` named by $ROBUST_MLLM_WORDNET_DIR.
No PyPI package ships the database itself (``wn`` and ``nltk`` download it at run time), and
NLTK's reader also wants a ``lexnames`` file Debian does not ship, so this small reader parses the
documented format (wndb(5)): an index line lists a lemma's synset offsets, and the data line at
that byte offset lists the synset's words. Inflected forms are reduced with WordNet's exception
lists and its detachment rules (as WordNet's morphy does; ``synset_lemma_names`` follows NLTK's
variant of morphy, for the vittle protocol's EDA edits).
"""

from __future__ import annotations

import os
import re
import threading
from functools import lru_cache
from pathlib import Path

from robustbench_mllm.errors import MissingResourceError

WORDNET_DIR_ENV = "ROBUST_MLLM_WORDNET_DIR"
DEFAULT_DIRS = (Path("/usr/share/wordnet"), Path("/usr/share/wordnet/dict"))
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# morphy's detachment rules: (suffix, replacement) per part of speech
DETACH = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
          ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}
# NLTK's morphy (what EDA's ``wordnet.synsets`` runs) also detaches "-ves" -> "-f" from nouns
NLTK_DETACH = {**DETACH, "n": (*DETACH["n"][:2], ("ves", "f"), *DETACH["n"][2:])}
_ADJ_MARKER = re.compile(r"\([a-z]+\)$")  # data.adj writes e.g. "big(a)"
_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")  # no multi-word lemmas ("hot_dog"), no "1" for "I"


class WordNetMissingError(MissingResourceError):
    """The WordNet database files are in none of the folders looked in."""


def wordnet_dir() -> Path:
    candidates = [Path(p) for p in [os.environ.get(WORDNET_DIR_ENV)] if p] + list(DEFAULT_DIRS)
    for folder in candidates:
        if (folder / "index.noun").is_file() and (folder / "data.noun").is_file():
            return folder
    raise WordNetMissingError(
        "word_insert needs the WordNet 3.0 database files (index.noun, data.noun, ...): install "
        "Debian's package (`apt-get install wordnet-base`, as scripts/setup.sh does) or point "
        f"${WORDNET_DIR_ENV} at a folder holding them. Looked in: "
        + ", ".join(str(c) for c in candidates)
    )


class WordNet:
    """Lemma -> synonyms over all parts of speech, loaded once per process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offsets: dict[str, dict[str, tuple[int, ...]]] = {}
        self._data: dict[str, bytes] = {}
        self._exceptions: dict[str, dict[str, tuple[str, ...]]] = {}
        self._synonyms: dict[str, tuple[str, ...]] = {}  # memo: questions repeat their words
        self._lemma_names: dict[str, tuple[str, ...]] = {}
        for pos, name in POS_FILES.items():
            self._offsets[pos] = self._read_index(folder / f"index.{name}")
            self._data[pos] = (folder / f"data.{name}").read_bytes()
            exc_file = folder / f"{name}.exc"
            self._exceptions[pos] = self._read_exceptions(exc_file) if exc_file.is_file() else {}

    @staticmethod
    def _read_index(path: Path) -> dict[str, tuple[int, ...]]:
        index: dict[str, tuple[int, ...]] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line or line.startswith(" "):  # the licence header lines start with spaces
                continue
            fields = line.split()
            synset_count = int(fields[2])
            index[fields[0]] = tuple(int(f) for f in fields[-synset_count:])
        return index

    @staticmethod
    def _read_exceptions(path: Path) -> dict[str, tuple[str, ...]]:
        table: dict[str, tuple[str, ...]] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split()
            if len(fields) >= 2:
                table[fields[0]] = tuple(fields[1:])
        return table

    def _synset_words(self, pos: str, offset: int) -> list[str]:
        data = self._data[pos]
        line = data[offset : data.index(b"\n", offset)].decode("utf-8", errors="replace").split()
        word_count = int(line[3], 16)
        return [_ADJ_MARKER.sub("", line[4 + 2 * i]) for i in range(word_count)]

    def lemmas(self, word: str, pos: str) -> list[str]:
        """Base forms of ``word`` as part of speech ``pos`` that WordNet lists (morphy)."""
        index = self._offsets[pos]
        forms = [word, *self._exceptions[pos].get(word, ())]
        forms += [word[: -len(suffix)] + repl for suffix, repl in DETACH[pos] if word.endswith(suffix)]
        return [form for form in dict.fromkeys(forms) if form in index]

    def synonyms(self, word: str) -> tuple[str, ...]:
        """Single plain-word synonyms of ``word`` (any part of speech), sorted so a draw by index does not
        depend on set or dict order; the word and its own base forms are left out."""
        key = word.lower()
        if key in self._synonyms:
            return self._synonyms[key]
        found: set[str] = set()
        own: set[str] = {key}
        for pos in POS_FILES:
            for lemma in self.lemmas(key, pos):
                own.add(lemma)
                for offset in self._offsets[pos][lemma]:
                    found.update(self._synset_words(pos, offset))
        result = tuple(sorted(w for w in found if _PLAIN_WORD.fullmatch(w) and w.lower() not in own))
        self._synonyms[key] = result
        return result


    def _nltk_morphy(self, form: str, pos: str) -> list[str]:
        """NLTK's ``_morphy``: the exception list alone when ``form`` is in it; else the form and
        its one-step detachments that WordNet lists; else detach again until some are listed."""
        index = self._offsets[pos]

        def listed(forms: list[str]) -> list[str]:
            return [f for f in dict.fromkeys(forms) if f in index]

        if form in self._exceptions[pos]:
            return listed([form, *self._exceptions[pos][form]])

        def detach(forms: list[str]) -> list[str]:
            return [f[: -len(suffix)] + repl for f in forms for suffix, repl in NLTK_DETACH[pos] if f.endswith(suffix)]

        forms = detach([form])
        found = listed([form, *forms])
        while not found and forms:
            forms = detach(forms)
            found = listed(forms)
        return found

    def synset_lemma_names(self, word: str) -> tuple[str, ...]:
        """Every lemma name of every synset of ``word``, in the order of NLTK's
        ``wordnet.synsets(word)`` (noun, verb, adjective, adverb; senses in index order) and of
        the lemmas in each synset, as the data files spell them ("Canis_familiaris")."""
        key = word.lower()
        if key not in self._lemma_names:
            names = [name for pos in POS_FILES for form in self._nltk_morphy(key, pos)
                     for offset in self._offsets[pos][form] for name in self._synset_words(pos, offset)]
            self._lemma_names[key] = tuple(names)
        return self._lemma_names[key]


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _load(folder: Path) -> WordNet:
    return WordNet(folder)


def load_wordnet() -> WordNet:
    with _lock:  # one load even when several threads ask at once
        return _load(wordnet_dir())
