"""EDA's similarity filter: the model loaders on tiny local models (no hub) and the choice rule
(cosine >= 0.9 to the original, up to 100 candidates, else the 100th)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.perturbations.base import perturbation_for
from robustbench_mllm.perturbations.text.eda import EdaWordEdit
from robustbench_mllm.perturbations.text.similarity import (
    THRESHOLD,
    TRIES,
    SimilarityFilter,
    load_similarity_filter,
)
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng

SENTENCES = ["What is the man holding in his hand?", "Describe the image in detail.", "What color is the bus?"]


def _letter_counts(texts: Sequence[str]) -> np.ndarray:
    """A plain embedding for the choice rule: how often each letter a-z occurs."""
    return np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)


def _manual_mean_pooling(folder: Path, texts: list[str]) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    rows = []
    for text in texts:  # one at a time: no padding at all
        with torch.no_grad():
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        rows.append(hidden.mean(0).numpy())
    return np.stack(rows)


def test_a_transformers_folder_is_embedded_with_mean_pooling(tiny_xlmr_dir: Path, one_thread: object) -> None:
    filter_ = load_similarity_filter(str(tiny_xlmr_dir))
    np.testing.assert_allclose(filter_.embed(SENTENCES), _manual_mean_pooling(tiny_xlmr_dir, SENTENCES),
                               rtol=1e-4, atol=1e-5)


def test_a_sentence_transformers_folder_is_loaded_with_sentence_transformers(
    tiny_xlmr_dir: Path, tmp_path: Path, one_thread: object
) -> None:
    st = pytest.importorskip("sentence_transformers")
    from sentence_transformers.sentence_transformer import modules

    transformer = modules.Transformer(str(tiny_xlmr_dir))
    pooling = modules.Pooling(transformer.get_embedding_dimension(), "mean")
    folder = tmp_path / "st-model"
    st.SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder))
    assert (folder / "modules.json").is_file()
    filter_ = load_similarity_filter(str(folder))
    np.testing.assert_allclose(filter_.embed(SENTENCES), _manual_mean_pooling(tiny_xlmr_dir, SENTENCES),
                               rtol=1e-4, atol=1e-5)


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError, match="`similarity_model`"):
        load_similarity_filter(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingResourceError, match="`similarity_model`"):
        load_similarity_filter(str(tmp_path / "empty"))


def test_the_first_close_candidate_is_kept_else_the_hundredth() -> None:
    filter_ = SimilarityFilter("letters", _letter_counts)
    far = [f"{'x' * (i + 1)}" for i in range(TRIES)]  # no letter in common with "abc": cosine 0
    drawn: list[str] = []

    def draw_from(pool: list[str]) -> Callable[[], str]:
        def draw() -> str:
            drawn.append(pool[len(drawn)])
            return drawn[-1]
        return draw

    assert filter_.choose("abc", draw_from(far)) == far[-1] and len(drawn) == TRIES
    drawn.clear()
    pool = far[:6] + ["cab"] + far[7:]  # the 7th is close (cosine 1), the others are not
    assert filter_.choose("abc", draw_from(pool)) == "cab"
    drawn.clear()
    pool = far[:6] + ["abcx", "abc"] + far[8:]  # cosine(abcx, abc) = 3 / (sqrt(4) * sqrt(3)) = 0.866 < 0.9
    assert 3 / (2 * np.sqrt(3)) < THRESHOLD
    assert filter_.choose("abc", draw_from(pool)) == "abc"


def test_eda_edits_with_the_filter_keep_only_close_candidates() -> None:
    load_registry("perturbations")
    filter_ = SimilarityFilter("letters", _letter_counts)
    delete = perturbation_for("word_delete", "vittle")
    assert isinstance(delete, EdaWordEdit)
    question = "Why is the zebra near the jukebox, and what is the quiet fox doing?"
    reference = _letter_counts([question])[0]

    def cosine(text: str) -> float:
        vector = _letter_counts([text])[0]
        return float(vector @ reference / (np.linalg.norm(vector) * np.linalg.norm(reference)))

    replaced = 0
    for seed in range(40):
        out = delete.apply(question, 5, make_rng(seed), similarity=filter_)
        first = delete.apply(question, 5, make_rng(seed))  # the same generator's first candidate
        assert cosine(out) >= THRESHOLD
        assert out == first if cosine(first) >= THRESHOLD else out != first
        replaced += out != first
    assert replaced > 0
