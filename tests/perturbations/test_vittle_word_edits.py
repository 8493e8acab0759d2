"""The vittle protocol's word edits against EDA's rules (PROTOCOL_FACTS section 2): cleaning,
n = max(1, int(rate * words)), swaps of two random positions, a coin per word for deletion, the
first WordNet synonym inserted anywhere but at the end. Every expected value is computed here from
the rule."""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest

from robustbench_mllm.perturbations.base import perturbation_for
from robustbench_mllm.perturbations.text import lexicon
from robustbench_mllm.perturbations.text.eda import EdaWordEdit
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng
from tests.fixtures.question_corpus import questions

WORD_EDITS = ("word_swap", "word_delete", "word_insert")
VOCABULARY = ("apple", "bridge", "candle", "desert", "engine", "forest", "garden", "harbor", "island", "jacket",
              "kettle", "ladder", "mirror", "needle", "orange", "pencil", "rabbit", "saddle", "tunnel", "violin")


def _ours(name: str) -> EdaWordEdit:
    load_registry("perturbations")
    pert = perturbation_for(name, "vittle")
    assert isinstance(pert, EdaWordEdit)
    return pert


def _distinct_sentence(rng: random.Random, length: int) -> list[str]:
    return rng.sample(VOCABULARY, length)


def _close(measured: float, expected: float, samples: int, spread: float = 0.5) -> bool:
    return abs(measured - expected) <= 4 * spread / math.sqrt(samples)


def test_outputs_are_lower_case_without_punctuation_or_digits() -> None:
    corpus = questions()
    for name in WORD_EDITS:
        pert = _ours(name)
        for index, question in enumerate(corpus):
            out = pert.apply(question, 5, make_rng(name, index))
            assert re.fullmatch(r"[a-z]+( [a-z]+)*", out), (name, question, out)
    swap = _ours("word_swap")
    assert swap.apply("What's the old-fashioned 3.5 m pole?", 1, make_rng(0)).split().count("whats") == 1
    assert sorted(swap.apply("What's the old-fashioned 3.5 m pole?", 1, make_rng(0)).split()) == sorted(
        ["whats", "the", "old", "fashioned", "m", "pole"])


def test_swap_count_rounds_down() -> None:
    """n swaps of two positions make a permutation of parity n: at level 3 a 10-word question gets
    int(1.5) = 1 swap (odd), a 20-word one int(3.0) = 3 (odd), a 14-word one int(2.1) = 2 (even)."""
    swap = _ours("word_swap")
    rng = random.Random(0)
    for length in (10, 14, 20):
        n = max(1, int(0.05 * 3 * length))
        for trial in range(40):
            words = _distinct_sentence(rng, length) if length <= len(VOCABULARY) else []
            out = swap.apply(" ".join(words), 3, make_rng("parity", length, trial)).split()
            permutation = [words.index(w) for w in out]
            cycles, seen = 0, set()
            for start in range(length):
                if start not in seen:
                    cycles += 1
                    while start not in seen:
                        seen.add(start)
                        start = permutation[start]
            assert (length - cycles) % 2 == n % 2, (length, trial)


def test_swap_distance_follows_two_uniform_positions() -> None:
    """At level 1 (one swap for under 20 words) two uniform distinct positions are adjacent with
    probability 2 / L and lie (L + 1) / 3 apart on average; the swap is skipped only when three
    redraws of the second position all hit the first, probability (1 / L)^3."""
    swap = _ours("word_swap")
    rng = random.Random(1)
    adjacent, distances, expected_adjacent, expected_distance = [], [], [], []
    unchanged, expected_unchanged = 0, 0.0
    for trial in range(3000):
        length = rng.randint(5, 19)
        words = _distinct_sentence(rng, length)
        out = swap.apply(" ".join(words), 1, make_rng("distance", trial)).split()
        moved = [i for i, (a, b) in enumerate(zip(words, out)) if a != b]
        expected_unchanged += (1 / length) ** 3
        if not moved:
            unchanged += 1
            continue
        assert len(moved) == 2
        adjacent.append(moved[1] - moved[0] == 1)
        distances.append(moved[1] - moved[0])
        expected_adjacent.append(2 / length)
        expected_distance.append((length + 1) / 3)
    assert abs(unchanged - expected_unchanged) <= 4 * math.sqrt(expected_unchanged) + 1  # a Poisson count
    assert _close(float(np.mean(adjacent)), float(np.mean(expected_adjacent)), len(adjacent))
    assert abs(np.mean(distances) - np.mean(expected_distance)) <= 4 * np.std(distances) / math.sqrt(len(distances))
    assert 0.1 < np.mean(adjacent) < 0.3  # far from the canonical protocol's "always adjacent"


def test_deletion_is_a_coin_per_word() -> None:
    """Level 1: each word goes with probability 0.05, so a question of L words comes back whole
    with probability 0.95^L; level 5, 2 words: both go with probability 0.25^2, and then one
    random word is kept, so one word remains with probability 2 * 0.25 * 0.75 + 0.25^2."""
    delete = _ours("word_delete")
    corpus = questions()
    whole, expected = [], []
    for index, question in enumerate(corpus):
        length = len(re.sub(r"[^a-z ]", " ", question.lower().replace("'", "").replace("-", " ")).split())
        for repeat in range(10):
            out = delete.apply(question, 1, make_rng("coin", index, repeat))
            whole.append(len(out.split()) == length)
            expected.append(0.95**length if length > 1 else 1.0)
    assert _close(float(np.mean(whole)), float(np.mean(expected)), len(whole))
    one_left = [len(delete.apply("bridge candle", 5, make_rng("pair", i)).split()) == 1 for i in range(4000)]
    assert _close(float(np.mean(one_left)), 2 * 0.25 * 0.75 + 0.25**2, len(one_left))
    assert all(delete.apply("Cat?", 5, make_rng(i)) == "cat" for i in range(20))  # one word: untouched


def _first_synonym(word: str) -> str:
    """EDA's get_synonyms(word)[0] in WordNet order, from the stated rule."""
    names = []
    for name in lexicon.load_wordnet().synset_lemma_names(word):
        name = "".join(c for c in name.replace("_", " ").replace("-", " ").lower() if c in "abcdefghijklmnopqrstuvwxyz ")
        if name != word and name not in names:
            names.append(name)
    return names[0] if names else ""


def _synonym_chain(word: str) -> set[str]:
    """``word``, its first synonym, that one's first synonym, ... (what repeated insertions can add)."""
    chain = {word}
    while (word := _first_synonym(word)) and word not in chain:
        chain.add(word)
    return chain


@pytest.mark.parametrize("level", [1, 3, 5])
def test_insertion_adds_n_first_synonyms_never_at_the_end(level: int) -> None:
    # words whose synonym chains hold single words only, so each insertion adds exactly one word
    vocabulary = [w for w in VOCABULARY
                  if all(re.fullmatch("[a-z]+", _first_synonym(c) or "-") for c in _synonym_chain(w))]
    assert len(vocabulary) >= 8
    insert = _ours("word_insert")
    rng = random.Random(level)
    at_start = 0
    for trial in range(200):
        words = rng.sample(vocabulary, rng.randint(2, len(vocabulary)))
        n = max(1, int(0.05 * level * len(words)))
        out = insert.apply(" ".join(words), level, make_rng("insert", level, trial)).split()
        assert len(out) == len(words) + n
        assert out[-1] == words[-1]  # inserted at 0 .. len-1: never after the last word
        at_start += out[0] != words[0]
        remaining = list(out)
        for word in words:  # the original words keep their order
            remaining = remaining[remaining.index(word) + 1:]
        inserted = list(out)
        for word in words:
            inserted.remove(word)
        present = set(words) | set(inserted)
        assert all(word in {_first_synonym(s) for s in present} for word in inserted), (inserted, words)
    assert at_start > 0  # position 0 is possible


def test_placeholders_stay_verbatim_and_protected_words_stay() -> None:
    text = "<image 1> Which [IMG] option matches the dining table in <image 2>?"
    for name in WORD_EDITS:
        pert = _ours(name)
        for seed in range(40):
            out = pert.apply(text, 5, make_rng(name, seed), protected=("dining table",))
            assert re.findall(r"<image \d>|\[IMG\]", out) == ["<image 1>", "[IMG]", "<image 2>"]
            assert "dining table" in out and "?" not in out
            if name != "word_insert":  # swaps and deletions never move a placeholder
                assert out.startswith("<image 1> ") and out.endswith(" <image 2>")
