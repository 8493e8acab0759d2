"""Character and word perturbations: determinism, protection, special tokens, never empty."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from robustbench_mllm.perturbations.base import Perturbation
from robustbench_mllm.perturbations.text import lexicon
from robustbench_mllm.perturbations.text.char_level import keyboard_neighbours
from robustbench_mllm.perturbations.text.protect import TextEditPerturbation, pope_object, split_units
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng

EDITS = ("char_typo", "char_delete", "char_insert", "word_swap", "word_delete", "word_insert")
CHAR_EDITS = EDITS[:3]
QUESTIONS = (
    "What is the man's shirt color, and is the 3.5 m pole visible?",
    "Describe the scene in this photo in detail.",
    "Where is the motorcycle being kept, and why might the owner keep it there?",
    "Why?",
    "Cat",
    "ok",
)
POPE_OBJECTS = ("dog", "dining table", "traffic light", "hair drier", "person", "cup", "tv")


def _pert(name: str) -> TextEditPerturbation:
    pert = load_registry("perturbations").get(name)
    assert isinstance(pert, TextEditPerturbation)
    return pert


def test_all_nine_text_perturbations_are_registered() -> None:
    registry = load_registry("perturbations")
    text = {n: p for n, p in registry.items() if p.modality == "text"}
    assert set(text) == {*EDITS, "translate_arabic", "translate_greek", "translate_hindi"}
    assert {p.category for p in text.values()} == {"char", "word", "sentence"}
    assert registry.get("word_swap").params(3) == "p_word=0.15"  # severity s -> 0.05 * s


def test_split_units_round_trips_text_exactly() -> None:
    for text in (*QUESTIONS, "<image>\n  What   is\tthis?  ", "<image>What<|im_end|>", "  "):
        assert split_units(text, ("is",)).join() == text


@pytest.mark.parametrize("name", EDITS)
def test_deterministic_from_the_generator_and_never_empty(name: str) -> None:
    pert = _pert(name)
    for severity in (1, 3, 5):
        outputs = []
        for index, question in enumerate(QUESTIONS):
            first = pert.apply(question, severity, make_rng(0, name, severity, index))
            again = pert.apply(question, severity, make_rng(0, name, severity, index))
            assert first == again
            assert first.strip(), (name, severity, question)
            outputs.append(first)
        other_seed = [pert.apply(q, severity, make_rng(1, name, severity, i)) for i, q in enumerate(QUESTIONS)]
        assert other_seed != outputs
    long_question = QUESTIONS[2]
    assert pert.apply(long_question, 5, make_rng(0, name, 5, "x")) != long_question


@pytest.mark.parametrize("name", CHAR_EDITS)
def test_char_edits_touch_only_the_drawn_words(name: str) -> None:
    pert = _pert(name)
    question = QUESTIONS[0]
    words = question.split(" ")
    for item in range(20):
        out = pert.apply(question, 3, make_rng(0, name, 3, item)).split(" ")
        assert len(out) == len(words)  # no space ever injected, no word removed
        changed = [i for i, (a, b) in enumerate(zip(words, out, strict=True)) if a != b]
        assert 1 <= len(changed) <= math.ceil(0.15 * len(words))
        assert all(len(words[i]) >= 4 for i in changed)  # "3.5", "m", "is" are never drawn
        assert "3.5" in out


def test_keyboard_typo_reads_nlpaugs_u_entry_as_y_and_keeps_case() -> None:
    assert "y" in keyboard_neighbours()["u"] and not any(" " in n for v in keyboard_neighbours().values() for n in v)
    pert = _pert("char_typo")
    text = "UUUU uuuu UUUU uuuu"
    outs = [pert.apply(text, 5, make_rng(0, "t", i)) for i in range(30)]
    assert all(out.count(" ") == 3 for out in outs)
    typos = {c for out in outs for c in out if c not in "uU "}
    assert "y" in typos and "Y" in typos
    assert all(out.split(" ")[0].upper() == out.split(" ")[0] for out in outs)


def test_word_swap_and_delete_move_whole_words_only() -> None:
    question = QUESTIONS[2]
    words = question.split()
    for item in range(20):
        swapped = _pert("word_swap").apply(question, 5, make_rng(0, item)).split()
        assert sorted(swapped) == sorted(words) and swapped != words
        kept = _pert("word_delete").apply(question, 5, make_rng(0, item)).split()
        assert len(kept) == len(words) - math.ceil(0.25 * len(words))
        assert all(w in words for w in kept)
    assert _pert("word_delete").apply("Why?", 5, make_rng(0)) == "Why?"  # the last word stays


def test_word_insert_adds_a_wordnet_synonym_of_a_word_of_the_question() -> None:
    wordnet = lexicon.load_wordnet()
    assert wordnet.synonyms("photo") == tuple(sorted(wordnet.synonyms("photo")))
    assert "photograph" in wordnet.synonyms("photo") and "dog" in wordnet.synonyms("dogs") + ("dog",)
    question = "Describe the scene in this photo."
    words = question.split()
    for item in range(10):
        out = _pert("word_insert").apply(question, 1, make_rng(0, item)).split()
        assert len(out) == len(words) + 1
        inserted = next(w for i, w in enumerate(out) if i >= len(words) or w != words[i])
        sources = [re.sub(r"\W+$", "", w) for w in words]
        assert any(inserted in wordnet.synonyms(w) for w in sources), inserted


def test_word_insert_does_not_depend_on_pythonhashseed() -> None:
    code = (
        "import json; from robustbench_mllm.registry import load_registry; "
        "from robustbench_mllm.seeding import make_rng; p = load_registry('perturbations').get('word_insert'); "
        f"print(json.dumps([p.apply(q, 5, make_rng(0, i)) for i, q in enumerate({list(QUESTIONS)!r})]))"
    )
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1]


def test_missing_wordnet_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lexicon, "DEFAULT_DIRS", (tmp_path,))
    monkeypatch.setenv(lexicon.WORDNET_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(lexicon.WordNetMissingError, match="apt-get install wordnet-base"):
        lexicon.wordnet_dir()


@pytest.mark.parametrize("name", EDITS)
def test_special_tokens_stay_intact(name: str) -> None:
    pert = _pert(name)
    question = "<image>\nWhat is standing in the middle of the picture? <|im_end|>"
    for item in range(20):
        out = pert.apply(question, 5, make_rng(0, name, item))
        assert out.count("<image>") == 1 and out.count("<|im_end|>") == 1
        if name != "word_insert":  # an inserted word may land before the first token
            assert out.startswith("<image>\n") and out.endswith(" <|im_end|>")


@pytest.mark.parametrize("name", EDITS)
def test_pope_object_survives_every_edit_at_severity_5(name: str) -> None:
    pert: Perturbation = _pert(name)
    for obj in POPE_OBJECTS:
        article = "an" if obj[0] in "aeiou" else "a"
        question = f"Is there {article} {obj} in the image?"
        assert pope_object(question) == obj
        for item in range(15):
            out = pert.apply(question, 5, make_rng(0, name, 5, obj, item), protected=(obj,))
            assert re.search(rf"(?<!\w){re.escape(obj)}(?!\w)", out), (question, out)


@pytest.mark.parametrize("protocol", ["canonical", "vittle"])
def test_image_placeholders_survive_every_edit_at_severity_5(protocol: str) -> None:
    """MMMU's "<image 1>" and "[IMG]"-style placeholders are frozen like "<image>" (robust-mllm
    0.1 broke them in 11-61% of the outputs at s5, depending on the edit)."""
    from robustbench_mllm.perturbations.base import perturbation_for
    from tests.fixtures.question_corpus import questions

    placeholders = ("<image 1>", "<image 2>", "[IMG]", "[IMG2]", "[image 3]")
    layouts = ("<image 1> {q}", "{q} [IMG]", "Compare <image 1> and <image 2>. {q}", "[IMG] [IMG2] {q}",
               "{q} See [image 3].")
    load_registry("perturbations")
    for name in EDITS:
        pert = perturbation_for(name, protocol)
        broken = 0
        for index, question in enumerate(questions()):
            text = layouts[index % len(layouts)].format(q=question)
            out = pert.apply(text, 5, make_rng(0, name, index))
            broken += any(out.count(p) != text.count(p) for p in placeholders)
        assert broken == 0, (protocol, name, broken)
