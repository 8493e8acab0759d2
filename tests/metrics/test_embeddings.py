"""Embedders on tiny random CLIP / XLM-R folders: official pooling, padding, the on-disk cache."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.metrics.embeddings import ImageEmbedder, TextEmbedder

pytestmark = pytest.mark.slow


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (40, 52, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_image_patch_mean_is_last_layer_patch_tokens_before_post_layernorm(tiny_clip_dir: Path) -> None:
    import torch
    from transformers import CLIPImageProcessorPil, CLIPModel

    images = [_png(0), _png(1)]
    got = ImageEmbedder(str(tiny_clip_dir), batch_size=1).embed(images)
    full = CLIPModel.from_pretrained(tiny_clip_dir).eval()
    pixels = CLIPImageProcessorPil.from_pretrained(tiny_clip_dir)(
        images=[Image.open(io.BytesIO(b)).convert("RGB") for b in images], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        hidden = full.vision_model(pixel_values=pixels, output_hidden_states=True).hidden_states[-1]
    expected = hidden[:, 1:, :].mean(1)
    expected = (expected / expected.norm(dim=1, keepdim=True)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    pooled = ImageEmbedder(str(tiny_clip_dir), pooling="pooled").embed(images)
    assert not np.allclose(pooled, got, atol=1e-3)


def test_image_encoder_is_quiet_about_text_tower_but_refuses_a_non_clip_folder(
        tiny_clip_dir: Path, tiny_xlmr_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    ImageEmbedder(str(tiny_clip_dir)).embed([_png(2)])  # a full CLIPModel checkpoint
    assert "UNEXPECTED" not in "".join(capfd.readouterr())
    with pytest.raises(ValueError, match="not a CLIP vision checkpoint"):
        ImageEmbedder(str(tiny_xlmr_dir)).embed([_png(2)])


def test_text_masked_mean_ignores_padding(tiny_xlmr_dir: Path) -> None:
    embedder = TextEmbedder(str(tiny_xlmr_dir), batch_size=8)
    short, long = b"a red bus", b"Describe the image in detail, with the kitchen table."
    alone = embedder.embed([short])
    padded = embedder.embed([short, long])  # the short text is padded in this batch
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(padded, axis=1), 1.0, atol=1e-6)
    last = TextEmbedder(str(tiny_xlmr_dir), pooling="last_mean").embed([short])
    assert not np.allclose(last, alone, atol=1e-3)


def test_text_longer_than_the_encoder_positions_is_truncated(tiny_xlmr_dir: Path) -> None:
    """The tiny XLM-R has 130 positions (128 tokens after RoBERTa's padding_idx + 1 offset): a long
    reference answer must be truncated there, not index past the position table."""
    embedder = TextEmbedder(str(tiny_xlmr_dir))
    words = "the kitchen table with two chairs and a window " * 40
    head = embedder.embed([words.encode()])
    longer = embedder.embed([(words * 2).encode()])  # differs only beyond the limit
    np.testing.assert_allclose(longer, head, atol=1e-6)

def test_cache_makes_a_rerun_embed_nothing(tiny_clip_dir: Path, tiny_xlmr_dir: Path, tmp_path: Path) -> None:
    texts = [b"one", b"two", b"one", "τρία".encode()]
    first = TextEmbedder(str(tiny_xlmr_dir), cache_root=tmp_path, batch_size=2)
    vectors = first.embed(texts)
    assert first.forward_calls == 2  # duplicates embedded once: 3 distinct texts in batches of 2
    np.testing.assert_array_equal(vectors[0], vectors[2])
    second = TextEmbedder(str(tiny_xlmr_dir), cache_root=tmp_path, batch_size=2)
    np.testing.assert_array_equal(second.embed(texts), vectors)
    assert second.forward_calls == 0 and second._model is None  # the model was never loaded
    other_pooling = TextEmbedder(str(tiny_xlmr_dir), pooling="last_mean", cache_root=tmp_path)
    other_pooling.embed(texts)
    assert other_pooling.forward_calls == 1  # a different pooling has its own cache
    images = ImageEmbedder(str(tiny_clip_dir), cache_root=tmp_path)
    images.embed([_png(3)])
    assert images.forward_calls == 1


def test_unknown_pooling_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown text pooling 'cls'"):
        TextEmbedder("anything", pooling="cls")


@pytest.mark.parametrize("embedder", [ImageEmbedder, TextEmbedder])
def test_an_encoder_that_cannot_be_loaded_names_it_and_the_flag(embedder: type, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-encoder"
    with pytest.raises(MissingResourceError, match=rf"(?s){embedder.kind} encoder .*no-such-encoder.*`{embedder.kind}_encoder`"):
        embedder(str(missing)).embed([_png(0)] if embedder is ImageEmbedder else [b"a question"])
