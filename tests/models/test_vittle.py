"""The vittle adapter on tiny Vittle checkpoints in both layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustbench_mllm.models.base import GenerationParams
from robustbench_mllm.models.detect import detect_adapter, load_adapter
from robustbench_mllm.models.llava_runtime import LlavaRuntime
from robustbench_mllm.models.options import LoadOptions
from tests.fixtures.tiny_llava import build_tiny_original, build_tiny_vittle, sample_batch

PARAMS = GenerationParams(max_new_tokens=8)
LAYERS = {"vittle_layer_v": 2, "vittle_layer_t": 1}


@pytest.fixture(scope="module")
def checkpoints(tiny_llava_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vittle")
    return {
        "separate": build_tiny_vittle(tiny_llava_dir, root / "separate", layout="separate"),
        "merged": build_tiny_vittle(tiny_llava_dir, root / "merged", layout="merged", learned_prior=True),
    }


@pytest.fixture(scope="module")
def plain_answers(tiny_llava_dir: Path) -> list[str]:
    return load_adapter(str(tiny_llava_dir), LoadOptions(device="cpu")).generate(sample_batch(3), PARAMS)


def load(folder: Path, **options: object) -> LlavaRuntime:
    adapter = load_adapter(str(folder), LoadOptions(device="cpu", **{**LAYERS, **options}))  # type: ignore[arg-type]
    assert isinstance(adapter, LlavaRuntime)
    return adapter


def test_both_layouts_load_the_same_bottleneck(checkpoints: dict[str, Path], plain_answers: list[str]) -> None:
    assert {detect_adapter(str(p)) for p in checkpoints.values()} == {"vittle"}
    separate, merged = load(checkpoints["separate"]), load(checkpoints["merged"])
    assert separate.describe()["bottleneck"]["variant"] == "F"
    assert merged.describe()["bottleneck"]["variant"] == "L"  # its prior vectors were loaded (unused)
    answers = separate.generate(sample_batch(3), PARAMS)
    assert answers == merged.generate(sample_batch(3), PARAMS)
    assert answers != plain_answers  # a = 0.5 changes the hidden states


def test_hidden_states_change_from_the_bottleneck_layer_on(checkpoints: dict[str, Path], tiny_llava_dir: Path) -> None:
    import numpy as np

    plain = load_adapter(str(tiny_llava_dir), LoadOptions(device="cpu"))
    vittle, batch = load(checkpoints["separate"]), sample_batch(2)
    before = vittle.hidden_states(batch, layer=0)  # the bottleneck acts after layers 1 (text) and 2 (visual)
    assert before.shape == (2, vittle.model.config.text_config.hidden_size)
    assert np.allclose(before, plain.hidden_states(batch, layer=0), atol=1e-5)
    assert not np.allclose(vittle.hidden_states(batch, layer=3), plain.hidden_states(batch, layer=3), atol=1e-3)


def test_alpha_zero_is_the_plain_model(checkpoints: dict[str, Path], plain_answers: list[str]) -> None:
    assert load(checkpoints["separate"], vittle_alpha=0.0).generate(sample_batch(3), PARAMS) == plain_answers


@pytest.mark.slow
def test_generate_with_kv_cache_equals_full_recompute_and_batches_agree(checkpoints: dict[str, Path]) -> None:
    vittle = load(checkpoints["separate"])
    inputs = vittle.encode(sample_batch(3))
    kwargs = {"max_new_tokens": 8, "do_sample": False, "suppress_tokens": [vittle.image_token_id],
              "pad_token_id": vittle.tokenizer.pad_token_id}
    with torch.inference_mode():
        cached = vittle.model.generate(**inputs, use_cache=True, **kwargs)
        recomputed = vittle.model.generate(**inputs, use_cache=False, **kwargs)
    assert torch.equal(cached, recomputed)
    batch = sample_batch(3)
    assert vittle.generate(batch, PARAMS) == [vittle.generate([pair], PARAMS)[0] for pair in batch]


def test_released_compat_and_layer_validation(checkpoints: dict[str, Path]) -> None:
    released = load(checkpoints["merged"], compat="released")
    assert released.describe()["bottleneck"]["compat"] == "released"
    assert len(released.generate(sample_batch(2), PARAMS)) == 2
    with pytest.raises(ValueError, match="`vittle_layer_v`"):  # default layer 24; the tiny model has 4
        load_adapter(str(checkpoints["merged"]), LoadOptions(device="cpu"))


def test_released_code_layout_on_a_llava_codebase_checkpoint(
    checkpoints: dict[str, Path], tiny_llava_dir: Path, tmp_path: Path
) -> None:
    """llava_llama weights with the bottleneck keys inside (what the released trainer saves)."""
    from safetensors.torch import load_file, save_file

    folder = build_tiny_original(tiny_llava_dir, tmp_path / "released")
    weights = load_file(str(folder / "model.safetensors"))
    bottleneck = load_file(str(checkpoints["separate"] / "bottleneck.safetensors"))
    save_file({**weights, **bottleneck}, str(folder / "model.safetensors"))
    assert detect_adapter(str(folder)) == "vittle"
    released = load(folder)
    assert released.describe()["base_adapter"] == "llava-original"
    hf_based = load(checkpoints["separate"])
    inputs = hf_based.encode(sample_batch(2))
    kwargs = {"max_new_tokens": 6, "do_sample": False, "suppress_tokens": [hf_based.image_token_id],
              "pad_token_id": hf_based.tokenizer.pad_token_id}
    with torch.inference_mode():
        assert torch.equal(released.model.generate(**inputs, **kwargs), hf_based.model.generate(**inputs, **kwargs))
