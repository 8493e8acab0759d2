"""The vittle protocol's character edits against nlpaug 1.1.7 (the version MM_Robustness pins):
the statistics of our output and of nlpaug's own on the same 240 questions at levels 1, 3 and 5,
and the rules of PROTOCOL_FACTS section 2 (counts, minimum length, keyboard table, tokenizer)."""

from __future__ import annotations

import difflib
import json
import math
import os
import random
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
import pytest

from robustbench_mllm.perturbations.base import perturbation_for
from robustbench_mllm.perturbations.text.protect import TextEdit
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng
from tests.fixtures.question_corpus import questions

CHAR_EDITS = ("char_typo", "char_delete", "char_insert")
LEVELS = (1, 3, 5)
REPEATS = 3


def _ours(name: str) -> TextEdit:
    load_registry("perturbations")
    pert = perturbation_for(name, "vittle")
    assert isinstance(pert, TextEdit) and pert is not load_registry("perturbations").get(name)
    return pert


def _nlpaug() -> Any:
    if os.environ.get("CI") == "true":  # CI installs the test extra: the comparison must run there
        import nlpaug
    else:
        nlpaug = pytest.importorskip("nlpaug")
    if nlpaug.__version__ != "1.1.7":
        pytest.skip(f"the reference is nlpaug 1.1.7 (the test extra pins it), found {nlpaug.__version__}")
    import nlpaug.augmenter.char as nac

    return nac


def _reference(name: str, level: int) -> Callable[[str, int], str]:
    """nlpaug 1.1.7 as MM_Robustness calls it, seeded per call and leaving `random` as it was."""
    nac = _nlpaug()
    rate = 0.05 * level
    aug = {"char_typo": lambda: nac.KeyboardAug(aug_word_p=rate),
           "char_delete": lambda: nac.RandomCharAug("delete", aug_word_p=rate),
           "char_insert": lambda: nac.RandomCharAug("insert", aug_word_p=rate)}[name]()

    def run(text: str, seed: int) -> str:
        state = random.getstate()
        random.seed(seed)
        try:
            return aug.augment(text)
        finally:
            random.setstate(state)

    return run


def _respaced(text: str) -> str:
    """The question as nlpaug gives it back untouched (its own tokenizer and reverse)."""
    from nlpaug.util.text.tokenizer import Tokenizer

    return Tokenizer.reverse_tokenizer(Tokenizer.tokenizer(text))


def _stats(original: str, output: str) -> dict[str, float]:
    """Per output: share of characters changed, words touched, characters replaced / inserted /
    deleted, substitutions that produced an upper-case letter and substitutions that only changed case."""
    chars = difflib.SequenceMatcher(None, original, output, autojunk=False).get_opcodes()
    words = difflib.SequenceMatcher(None, original.split(" "), output.split(" "), autojunk=False).get_opcodes()
    stats = dict.fromkeys(("changed", "words", "replaced", "inserted", "deleted", "upper", "case_only"), 0.0)
    for tag, i1, i2, j1, j2 in chars:
        if tag == "equal":
            continue
        stats["changed"] += max(i2 - i1, j2 - j1)
        stats["inserted"] += max(0, (j2 - j1) - (i2 - i1))
        stats["deleted"] += max(0, (i2 - i1) - (j2 - j1))
        pairs = list(zip(original[i1:i2], output[j1:j2])) if tag == "replace" else []
        stats["replaced"] += len(pairs)
        stats["upper"] += sum(b.isupper() for _, b in pairs)
        stats["case_only"] += sum(a != b and a.lower() == b.lower() for a, b in pairs)
    stats["changed"] /= max(len(original), 1)
    stats["words"] = float(sum(i2 - i1 for tag, i1, i2, _, _ in words if tag != "equal"))
    return stats


def _means(samples: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and standard error of each statistic."""
    out = {}
    for key in samples[0]:
        values = np.array([s[key] for s in samples])
        out[key] = (float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))))
    return out


@pytest.mark.parametrize("name", CHAR_EDITS)
def test_statistics_match_nlpaug_1_1_7_at_levels_1_3_5(name: str) -> None:
    corpus = questions()
    ours = _ours(name)
    for level in LEVELS:
        reference = _reference(name, level)
        ours_stats, ref_stats = [], []
        for index, question in enumerate(corpus):
            original = _respaced(question)
            for repeat in range(REPEATS):
                ours_out = ours.apply(question, level, make_rng("stats", name, level, index, repeat))
                ref_out = reference(question, 1_000_003 * level + 1009 * index + repeat)
                ours_stats.append(_stats(original, ours_out))
                ref_stats.append(_stats(original, ref_out))
        mine, theirs = _means(ours_stats), _means(ref_stats)
        for key, (mean, se) in theirs.items():
            tolerance = 4 * math.hypot(se, mine[key][1]) + 1e-9
            assert abs(mine[key][0] - mean) <= tolerance, (name, level, key, mine[key][0], mean, tolerance)
        assert theirs["changed"][0] > 0
        if name == "char_typo":  # upper-case neighbours: about a third of substitutions
            assert 0.25 < theirs["upper"][0] / theirs["replaced"][0] < 0.5
            assert 0.25 < mine["upper"][0] / mine["replaced"][0] < 0.5


def _word_lengths(text: str) -> list[int]:
    return [len(w) for w in text.split(" ")]


def test_word_count_rounds_down_and_is_capped_at_ten() -> None:
    delete = _ours("char_delete")
    # 30 tokens ("wordNN" x 29 and "?"): level 1 -> int(0.05 * 30) = 1 word (nlpaug 1.1.11's ceil: 2)
    short = " ".join(f"word{i:02d}" for i in range(29)) + "?"
    # 200 tokens: level 5 -> int(0.25 * 200) = 50, capped at 10
    long = " ".join(f"word{i:03d}" for i in range(199)) + "?"
    for seed in range(10):
        out = delete.apply(short, 1, make_rng(seed))
        assert sum(a != b for a, b in zip(_word_lengths(short), _word_lengths(out))) == 1
        out = delete.apply(long, 5, make_rng(seed))
        assert sum(a != b for a, b in zip(_word_lengths(long), _word_lengths(out))) == 10


def test_characters_per_word_are_thirty_percent_rounded_down_and_short_words_are_never_drawn() -> None:
    delete, insert = _ours("char_delete"), _ours("char_insert")
    # one eligible word per question: its length -> int(0.3 * length) clamped to [1, 10]
    for length in (4, 5, 7, 10, 13, 20, 40):
        word = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"[:length]
        text = f"a {word} is on it ."
        expected = min(max(int(0.3 * length), 1), 10)
        for seed in range(5):
            for severity in LEVELS:  # 30% at every level
                out = delete.apply(text, severity, make_rng(seed, length)).split(" ")
                assert out[0] == "a" and out[2:] == ["is", "on", "it."] and len(out[1]) == length - expected
                out = insert.apply(text, severity, make_rng(seed, length)).split(" ")
                assert len(out[1]) == length + expected


def test_keyboard_typos_use_nlpaugs_table_with_upper_case_neighbours() -> None:
    table = json.loads((resources.files("nlpaug") / "res" / "char" / "keyboard" / "en.json").read_text())
    typo = _ours("char_typo")
    for key in ("a", "g", "A", "u"):
        lower = key.lower()
        allowed = {v for n in table[lower] for v in (n, n.upper())} - {key}
        outs = [typo.apply(key * 10, 5, make_rng(key, i)) for i in range(60)]
        produced = {c for out in outs for c in out.replace(key, "")} - {" "}
        assert produced and produced <= {c for v in allowed for c in v}, key
        assert any(c.isupper() for c in produced) and any(c.islower() for c in produced)
    # the table's "u" entry holds " t": the reference could split a word, so may we
    assert any(" t" in typo.apply("uuuuuuuuuu", 5, make_rng("u", i)).lower() for i in range(60))


def test_output_is_respaced_as_nlpaugs_tokenizer_does_even_when_nothing_was_drawn() -> None:
    for name in CHAR_EDITS:
        pert = _ours(name)
        assert pert.apply("Why's it red?", 3, make_rng(0)) == "Why ' s it red?"  # no word of 4+ characters
        assert pert.apply("Is there a dog in the image?", 1, make_rng(0), protected=("dog",)).count("dog") == 1


def test_placeholders_protected_phrases_and_line_breaks_survive() -> None:
    text = "<image 1> Which of the [IMG] options describes the <image> best?\nA. giraffe\nB. elephant"
    for name in CHAR_EDITS:
        pert = _ours(name)
        for seed in range(30):
            out = pert.apply(text, 5, make_rng(name, seed), protected=("giraffe",))
            assert out.startswith("<image 1> ") and " [IMG] " in out and "<image>" in out
            assert out.count("\n") == 2 and "giraffe" in out
            assert re.search(r"^A\. giraffe$", out, flags=re.MULTILINE)
