"""The llava-hf adapter on the tiny LLaVA, loaded through the `--model PATH` detection path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_mllm.models.base import GenerationParams
from robustbench_mllm.models.detect import detect_adapter, load_adapter
from robustbench_mllm.models.llava_runtime import LlavaRuntime, pad_to_square
from robustbench_mllm.models.options import LoadOptions
from tests.fixtures.tiny_llava import sample_batch as make_batch

PARAMS = GenerationParams(max_new_tokens=8)


@pytest.fixture(scope="module")
def adapter(tiny_llava_dir: Path) -> LlavaRuntime:
    """Under ``canonical``: the checkpoint's chat template, no padding (``vittle``'s prompt and
    padding: tests/models/test_protocol_prompts.py)."""
    loaded = load_adapter(str(tiny_llava_dir), LoadOptions(device="cpu", protocol="canonical"))
    assert isinstance(loaded, LlavaRuntime)
    return loaded


def test_folder_is_detected_as_llava_hf(tiny_llava_dir: Path) -> None:
    assert detect_adapter(str(tiny_llava_dir)) == "llava-hf"


def test_prompt_is_the_llava_hf_format(adapter: LlavaRuntime) -> None:
    assert adapter.format_prompt("Is there a cat?").strip() == "USER: <image>\nIs there a cat? ASSISTANT:"
    assert adapter.describe()["adapter"] == "llava-hf"


def test_batched_greedy_answers_equal_batch_size_one(adapter: LlavaRuntime) -> None:
    batch = make_batch(5)  # different image sizes and prompt lengths: left padding is exercised
    batched = adapter.generate(batch, PARAMS)
    single = [adapter.generate([pair], PARAMS)[0] for pair in batch]
    assert batched == single
    assert len(set(batched)) > 1  # a degenerate model answering the same thing would prove nothing


def test_hidden_states_at_last_token_are_batch_invariant(adapter: LlavaRuntime) -> None:
    batch = make_batch(3)
    states = adapter.hidden_states(batch, layer=2)
    assert states.shape == (3, 64)
    alone = np.concatenate([adapter.hidden_states([pair], layer=2) for pair in batch])
    np.testing.assert_allclose(states, alone, atol=1e-4)
    assert not np.allclose(states, adapter.hidden_states(batch, layer=3))
    with pytest.raises(ValueError, match="decoder layers 0..3"):
        adapter.hidden_states(batch, layer=4)


def test_pad_to_square_uses_the_mean_colour() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    padded = pad_to_square(image, (122, 116, 104))
    assert padded.size == (40, 40)
    assert padded.getpixel((0, 0)) == (122, 116, 104)
    assert padded.getpixel((20, 20)) == (255, 0, 0)


def test_pad_to_square_option_changes_the_pixels(tiny_llava_dir: Path, adapter: LlavaRuntime) -> None:
    padded = load_adapter(str(tiny_llava_dir), LoadOptions(device="cpu", protocol="canonical", pad_to_square=True))
    batch = make_batch(2)
    assert not np.allclose(adapter.encode(batch)["pixel_values"], padded.encode(batch)["pixel_values"])  # type: ignore[attr-defined]
    assert padded.describe()["pad_to_square"] is True
