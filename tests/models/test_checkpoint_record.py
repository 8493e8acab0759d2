"""What a trained checkpoint records (Vittle variant, image padding) is what the adapters report."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.models.detect import load_adapter
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.models.preprocessing import (
    CHECKPOINT_INFO_FILE,
    recorded_pad_to_square,
    resolve_pad_to_square,
    save_image_preprocessing,
)
from robustbench_mllm.train.objective import ObjectiveConfig
from robustbench_mllm.train.options import TrainConfig
from tests.fixtures.tiny_llava import build_tiny_vittle
from tests.fixtures.toy_instructions import build_toy_instructions


def test_explicit_option_then_record_then_adapter_default(tmp_path: Path) -> None:
    assert resolve_pad_to_square(tmp_path, None, adapter_default=False) is False
    save_image_preprocessing(tmp_path, True)
    assert recorded_pad_to_square(tmp_path) is True
    assert resolve_pad_to_square(tmp_path, None, adapter_default=False) is True
    assert resolve_pad_to_square(tmp_path, False, adapter_default=True) is False
    (tmp_path / CHECKPOINT_INFO_FILE).write_text('{"image_preprocessing": {"pad_to_square": "yes"}}')
    with pytest.raises(DataFormatError, match="pad_to_square"):
        recorded_pad_to_square(tmp_path)


def test_vittle_variant_comes_from_the_config_not_the_prior_values(tiny_llava_dir: Path, tmp_path: Path) -> None:
    """A Vittle (L) whose priors are still zero (an early checkpoint) is (L) all the same."""
    from dataclasses import replace

    from robustbench_mllm.models.bottleneck import BottleneckConfig

    folder = build_tiny_vittle(tiny_llava_dir, tmp_path / "early_l", layout="separate", learned_prior=False)
    replace(BottleneckConfig.load(folder), prior="learned").save(folder)
    described = load_adapter(str(folder), LoadOptions(device="cpu")).describe()
    assert described["bottleneck"]["variant"] == "L"


def _train(base: Path, root: Path, objective: str, pad_square: bool) -> Path:
    from robustbench_mllm.train.trainer import run_training

    data, images = build_toy_instructions(root / "toy")
    out = root / objective
    run_training(TrainConfig(
        base=base, data=data, images=images, out=out, objective=ObjectiveConfig(name=objective),
        layer_v=2, layer_t=1, max_steps=1, batch_size=2, save_steps=10, pad_square=pad_square,
    ))
    return out


@pytest.mark.slow
def test_trained_vittle_f_and_l_report_their_variant_and_padding(
    tiny_llava_dir: Path, tmp_path: Path, one_thread: None
) -> None:
    fixed = _train(tiny_llava_dir, tmp_path, "vittle-f", pad_square=True)
    learned = _train(tiny_llava_dir, tmp_path, "vittle-l", pad_square=False)
    # canonical: the llava-hf base would not pad, so only the record can make it pad
    options = LoadOptions(device="cpu", dtype="float32", protocol="canonical")

    as_fixed = load_adapter(str(fixed), options).describe()
    assert (as_fixed["adapter"], as_fixed["bottleneck"]["variant"]) == ("vittle", "F")
    assert as_fixed["pad_to_square"] is True  # trained padded
    as_learned = load_adapter(str(learned), options).describe()
    assert (as_learned["bottleneck"]["variant"], as_learned["pad_to_square"]) == ("L", False)
    # vittle pads by default, but a checkpoint trained unpadded is evaluated unpadded
    assert load_adapter(str(learned), LoadOptions(device="cpu", dtype="float32")).describe()["pad_to_square"] is False

    forced = load_adapter(str(fixed), LoadOptions(device="cpu", dtype="float32", pad_to_square=False))
    assert forced.describe()["pad_to_square"] is False
