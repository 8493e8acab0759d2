"""Image and text embedders for EMID, with an on-disk cache keyed by content.

Official pooling (Oh et al. 2025) is the default: CLIP image embedding = mean of the last encoder
layer's patch tokens (CLS dropped, before the post-layernorm); XLM-R text embedding = layer-0
output (the embedding layer) averaged over the attention mask at positions 1.. (after <s>). Every
embedding is L2-normalised. Other pooling: ``pooled`` (CLIP's post-layernorm CLS) for images and
``last_mean`` (last layer, same masked mean) for text.

Cache: ``<cache_root>/<model fingerprint>-<pooling>/shard-*.safetensors``, one shard per call that
embedded something, each tensor named by the sha256 of its content (image bytes or UTF-8 text).
A rerun over the same content embeds nothing and does not even load the model. A local model
folder is fingerprinted by the contents of its config and weight files; a hub id by the id alone
(treated as immutable: pass a local folder to pin exact weights).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from robustbench_mllm.errors import ConfigError, DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import sha256_file
from robustbench_mllm.models.options import without_loading_bars
from robustbench_mllm.store.embeddings import EmbeddingCache

ImagePooling = Literal["patch_mean", "pooled"]
TextPooling = Literal["layer0_mean", "last_mean"]
IMAGE_POOLINGS: tuple[ImagePooling, ...] = ("patch_mean", "pooled")
TEXT_POOLINGS: tuple[TextPooling, ...] = ("layer0_mean", "last_mean")
DEFAULT_IMAGE_ENCODER = "openai/clip-vit-base-patch32"
DEFAULT_TEXT_ENCODER = "FacebookAI/xlm-roberta-base"
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_fingerprints: dict[str, str] = {}


def encoder_fingerprint(model: str) -> str:
    """A local folder: sha256 over its config and weight files' contents; a hub id: the id."""
    if model not in _fingerprints:
        folder = Path(model)
        if folder.is_dir():
            digest = hashlib.sha256()
            files = sorted(p for p in folder.iterdir()
                           if p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES)
            if not files:
                raise MissingResourceError(f"{folder}: no config.json or weights: not a model folder")
            for file in files:
                digest.update(f"{file.name}:{sha256_file(file)}\n".encode())
            _fingerprints[model] = digest.hexdigest()
        else:
            _fingerprints[model] = hashlib.sha256(f"hub:{model}".encode()).hexdigest()
    return _fingerprints[model]


def content_key(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class Embedder(ABC):
    """Embeds byte contents in batches through ``_forward``, reading and filling the cache.

    ``forward_calls`` counts model forward passes (a cached rerun leaves it at 0)."""

    kind = ""
    default_model = ""
    poolings: tuple[str, ...] = ()  # the first is the default

    def __init__(self, model: str | None = None, pooling: str | None = None, *,
                 cache_root: Path | None = None, batch_size: int = 32, device: str = "cpu") -> None:
        pooling = pooling or self.poolings[0]
        if pooling not in self.poolings:
            raise ConfigError(f"unknown {self.kind} pooling {pooling!r}; choose from {', '.join(self.poolings)}")
        self.model_id = str(model or self.default_model)
        self.pooling = pooling
        self.batch_size = batch_size
        self.device = device
        self.forward_calls = 0
        self._model: Any = None
        self._cache = (EmbeddingCache(Path(cache_root) / self.cache_name())
                       if cache_root is not None else None)

    def cache_name(self) -> str:
        return f"{self.kind}-{encoder_fingerprint(self.model_id)[:16]}-{self.pooling}"

    def describe(self) -> dict[str, str]:
        return {"model": self.model_id, "pooling": self.pooling,
                "fingerprint": encoder_fingerprint(self.model_id)}

    def embed(self, contents: Sequence[bytes], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(contents), dim) float32 L2-normalised embeddings, in order."""
        keys = [content_key(c) for c in contents]
        found: dict[str, np.ndarray] = {}
        if self._cache is not None:
            found = {k: v for k in set(keys) if (v := self._cache.get(k)) is not None}
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        by_key = dict(zip(keys, contents))
        new: dict[str, np.ndarray] = {}
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start:start + self.batch_size]
            vectors = l2_normalise(self._forward([by_key[k] for k in batch]).astype(np.float32))
            self.forward_calls += 1
            new.update(zip(batch, vectors))
            if on_batch:
                on_batch(len(batch))
        if self._cache is not None:
            self._cache.put(new)
        found.update(new)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    def _loaded(self) -> tuple[Any, Any]:
        """(model in eval mode on the device, its processor or tokenizer), loaded on first use
        (a fully cached run never loads the model)."""
        if self._model is None:
            try:
                with without_loading_bars():
                    model, preprocessor = self._load()
            except OSError as exc:  # no such folder, or a hub id that is not cached when offline
                raise MissingResourceError(f"cannot load the {self.kind} encoder {self.model_id!r}: {exc}\n"
                                           f"give a local model folder as `{self.kind}_encoder`") from None
            self._model = (model.to(self.device).eval(), preprocessor)
        return self._model

    @abstractmethod
    def _load(self) -> tuple[Any, Any]:
        """(model, processor or tokenizer) from ``self.model_id``."""

    @abstractmethod
    def _forward(self, batch: list[bytes]) -> np.ndarray:
        """Raw (unnormalised) pooled vectors of one batch."""


class ImageEmbedder(Embedder):
    """CLIP vision tower from a CLIPModel or CLIPVisionModel checkpoint (path or hub id)."""

    kind = "image"
    default_model = DEFAULT_IMAGE_ENCODER
    poolings = IMAGE_POOLINGS

    def _load(self) -> tuple[Any, Any]:
        import transformers
        from transformers import AutoImageProcessor, CLIPVisionModel

        # A full CLIPModel checkpoint (as openai/clip-vit-base-patch32 ships) has text-tower
        # weights the vision tower does not use: expected, so keep transformers' per-key report
        # quiet, but refuse a checkpoint that lacks vision weights.
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()
        try:
            model, info = CLIPVisionModel.from_pretrained(self.model_id, output_loading_info=True)
        finally:
            transformers.logging.set_verbosity(verbosity)
        if info["missing_keys"]:
            missing = sorted(info["missing_keys"])
            raise ConfigError(f"{self.model_id}: not a CLIP vision checkpoint: {len(missing)} weight(s) missing, "
                              f"e.g. {', '.join(missing[:3])}")
        return model, AutoImageProcessor.from_pretrained(self.model_id)

    def _forward(self, batch: list[bytes]) -> np.ndarray:
        import torch
        from PIL import Image

        from robustbench_mllm.imaging import load_rgb

        model, processor = self._loaded()
        images = [Image.fromarray(load_rgb(b)) for b in batch]  # the decoder generate uses
        pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode():
            out = model(pixel_values=pixels, output_hidden_states=True)
        if self.pooling == "pooled":
            pooled = out.pooler_output
        else:  # last encoder layer (before post-layernorm), patch tokens only
            pooled = out.hidden_states[-1][:, 1:, :].mean(dim=1)
        return pooled.float().cpu().numpy()


class TextEmbedder(Embedder):
    """XLM-R (any encoder with hidden states) and its tokenizer (path or hub id)."""

    kind = "text"
    default_model = DEFAULT_TEXT_ENCODER
    poolings = TEXT_POOLINGS

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoModel, AutoTokenizer

        return AutoModel.from_pretrained(self.model_id), AutoTokenizer.from_pretrained(self.model_id)

    def _forward(self, batch: list[bytes]) -> np.ndarray:
        import torch

        model, tokenizer = self._loaded()
        texts = [b.decode("utf-8") for b in batch]
        tokens = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                           max_length=max_text_tokens(model, tokenizer))
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        with torch.inference_mode():
            out = model(**tokens, output_hidden_states=True)
        hidden = out.hidden_states[0 if self.pooling == "layer0_mean" else -1]
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)[:, 1:, :]
        # masked mean over positions 1.. (drops <s>, keeps </s>, as the official code does)
        pooled = (hidden[:, 1:, :] * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return pooled.float().cpu().numpy()


def max_text_tokens(model: Any, tokenizer: Any) -> int:
    """The longest input the encoder has positions for: RoBERTa-family models (XLM-R) number
    positions from padding_idx + 1, so XLM-R-base's 514 positions hold 512 tokens. A tokenizer
    limit below that (its model_max_length) wins."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if not positions:
        return int(min(tokenizer.model_max_length, 512))
    padding_idx = getattr(getattr(model, "embeddings", None), "padding_idx", None)
    usable = positions - (padding_idx + 1 if isinstance(padding_idx, int) else 0)
    return int(min(usable, tokenizer.model_max_length))


def image_bytes(image: Path | bytes | None, where: str) -> bytes:
    """The encoded bytes of an item's image (cache key and model input)."""
    if isinstance(image, bytes):
        return image
    if image is None:
        raise DataFormatError(f"{where}: item has no image")
    return Path(image).read_bytes()
