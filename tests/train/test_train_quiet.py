"""No warnings of our own making: training arguments under their current names, and transformers'
own progress bars off (and back on after) while a model loads under our progress."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest


@pytest.mark.parametrize("enabled", [True, False])
def test_training_arguments_raise_no_deprecation_warning(tmp_path: Path, enabled: bool) -> None:
    from robustbench_mllm.train.options import TrainConfig
    from robustbench_mllm.train.trainer import training_arguments

    options = TrainConfig(base=tmp_path, data=tmp_path, out=tmp_path, gradient_checkpointing=enabled)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = training_arguments(options)
    assert [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))] == []
    assert args.gradient_checkpointing is enabled  # the old name still mirrors the setting


def test_loading_bars_are_off_inside_and_restored_after() -> None:
    from transformers.utils import logging

    from robustbench_mllm.models.options import without_loading_bars

    logging.enable_progress_bar()
    with without_loading_bars():
        assert not logging.is_progress_bar_enabled()
    assert logging.is_progress_bar_enabled()


def test_loading_the_tiny_llava_prints_no_bar(tiny_llava_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from robustbench_mllm.models.llava_runtime import load_processor_and_model

    load_processor_and_model(str(tiny_llava_dir), "cpu", "float32")
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out
