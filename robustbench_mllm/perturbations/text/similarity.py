"""EDA's similarity filter: a sentence-embedding model rejects word edits that drift too far.

MM_Robustness embeds each EDA candidate and the original question with
``sentence-transformers/paraphrase-mpnet-base-v2`` and keeps the first candidate whose cosine
similarity is at least 0.9, trying up to 100 candidates and keeping the 100th when none passes.
``--similarity-model PATH_OR_ID`` names the model: a folder with ``modules.json`` is loaded with
sentence-transformers, as is a hub id when sentence-transformers is installed; any other
transformers folder (or hub id) with mean pooling over the last hidden states, which is what
paraphrase-mpnet-base-v2's pooling module does. On the CPU, so the filter's decisions do not
depend on the machine's accelerator. Without a model the filter is off, which the manifest records.

Candidates are drawn in growing batches (1, 3, 8, ...) so a question whose first candidate passes
costs one embedding; the kept candidate is the first that passes in draw order, whatever the
batching. Embeddings are cached per text for the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_mllm.errors import MissingResourceError

THRESHOLD = 0.9
TRIES = 100
BATCHES = (1, 3, 8, 16, 32, 40)  # sums to TRIES
REFERENCE_MODEL = "sentence-transformers/paraphrase-mpnet-base-v2"

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass
class SimilarityFilter:
    """``choose(original, draw)``: the first of up to ``TRIES`` candidates from ``draw()`` whose
    embedding has cosine similarity >= ``THRESHOLD`` with the original's, else the last one."""

    model: str
    embed: Embed
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def _vectors(self, texts: Sequence[str]) -> list[np.ndarray]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, np.asarray(self.embed(missing), dtype=np.float64), strict=True):
                self._cache[text] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return [self._cache[t] for t in texts]

    def choose(self, original: str, draw: Callable[[], str]) -> str:
        (reference,) = self._vectors([original])
        candidates: list[str] = []
        for size in BATCHES:
            batch = [draw() for _ in range(size)]
            candidates.extend(batch)
            for text, vector in zip(batch, self._vectors(batch), strict=True):
                if float(vector @ reference) >= THRESHOLD:
                    return text
        return candidates[-1]


def _is_sentence_transformers(model: str) -> bool:
    folder = Path(model)
    if folder.is_dir():
        return (folder / "modules.json").is_file()
    import importlib.util

    return importlib.util.find_spec("sentence_transformers") is not None


def _sentence_transformers_embed(model: str) -> Embed:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MissingResourceError(
            f"`similarity_model` {model!r} is a sentence-transformers model: pip install sentence-transformers"
        ) from None
    encoder = SentenceTransformer(model, device="cpu")

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(encoder.encode(list(texts), convert_to_numpy=True, show_progress_bar=False))

    return embed


def _mean_pooling_embed(model: str) -> Embed:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    encoder: Any = AutoModel.from_pretrained(model).eval()

    def embed(texts: Sequence[str]) -> np.ndarray:
        batch = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy()

    return embed


@lru_cache(maxsize=2)
def load_similarity_filter(model: str) -> SimilarityFilter:
    """The filter with the sentence-embedding model ``model`` (a folder or a hub id), loaded once
    per process (a suite's data sets share it, and its embedding cache)."""
    if Path(model).is_absolute() and not Path(model).exists():
        raise MissingResourceError(f"`similarity_model` {model!r}: no such folder")
    try:
        embed = _sentence_transformers_embed(model) if _is_sentence_transformers(model) else _mean_pooling_embed(model)
    except (OSError, ValueError) as exc:  # not a model folder, or a hub id that cannot be fetched
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise MissingResourceError(f"`similarity_model` {model!r} could not be loaded: {reason}") from None
    return SimilarityFilter(model, embed)
