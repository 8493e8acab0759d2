"""llava-original: a LLaVA-codebase checkpoint converted on load equals the HF model it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robustbench_mllm.models.base import GenerationParams
from robustbench_mllm.models.conversation import LLAVA_V1_SYSTEM
from robustbench_mllm.models.detect import detect_adapter, load_adapter
from robustbench_mllm.models.llava_runtime import LlavaRuntime
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.registry import load_registry
from tests.fixtures.tiny_llava import build_tiny_original
from tests.fixtures.tiny_llava import sample_batch as make_batch


@pytest.fixture(scope="module")
def hf(tiny_llava_dir: Path) -> LlavaRuntime:
    return load_adapter(str(tiny_llava_dir), LoadOptions(device="cpu"))  # type: ignore[return-value]


@pytest.mark.parametrize("with_vision_weights", [True, False])
def test_converted_checkpoint_matches_the_hf_model(
    hf: LlavaRuntime, tiny_llava_dir: Path, tmp_path: Path, with_vision_weights: bool
) -> None:
    folder = build_tiny_original(tiny_llava_dir, tmp_path / "original", with_vision_weights=with_vision_weights)
    assert detect_adapter(str(folder)) == "llava-original"
    original = load_adapter(str(folder), LoadOptions(device="cpu"))
    assert isinstance(original, LlavaRuntime)
    ours, theirs = original.model.state_dict(), hf.model.state_dict()
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    inputs = hf.encode(make_batch(3))
    kwargs = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": hf.tokenizer.pad_token_id}
    assert torch.equal(original.model.generate(**inputs, **kwargs), hf.model.generate(**inputs, **kwargs))


def test_original_prompt_and_preprocessing(tiny_llava_dir: Path, tmp_path: Path) -> None:
    folder = build_tiny_original(tiny_llava_dir, tmp_path / "original")
    original = load_adapter(str(folder), LoadOptions(device="cpu"))
    assert isinstance(original, LlavaRuntime)
    # the default protocol (vittle): the released evaluation's llava_v1 conversation
    assert original.format_prompt("Is it red?") == f"{LLAVA_V1_SYSTEM} USER: <image>\nIs it red? ASSISTANT:"
    assert original.pad_square  # image_aspect_ratio "pad" is the original default
    states = original.hidden_states(make_batch(2), layer=1)
    assert states.shape == (2, original.model.config.text_config.hidden_size) and bool(np.isfinite(states).all())
    custom = tmp_path / "system.txt"
    custom.write_text("Be brief.\n", encoding="utf-8")
    ross = load_registry("models").get("ross")(str(folder), LoadOptions(device="cpu", system_prompt_file=custom))
    assert ross.format_prompt("Q") == "Be brief. USER: <image>\nQ ASSISTANT:"
    answers = ross.generate(make_batch(2), GenerationParams(max_new_tokens=4))
    assert len(answers) == 2 and ross.describe()["adapter"] == "ross"


def test_missing_vision_tower_is_a_clear_error(tiny_llava_dir: Path, tmp_path: Path) -> None:
    folder = build_tiny_original(tiny_llava_dir, tmp_path / "original")
    config = (folder / "config.json").read_text(encoding="utf-8")
    (folder / "config.json").write_text(config.replace(str(folder / "vision_tower"), "openai/clip-vit-large-patch14-336"))
    with pytest.raises(FileNotFoundError, match="`vision_tower`"):
        load_adapter(str(folder), LoadOptions(device="cpu"))
