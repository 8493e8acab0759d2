"""Prediction files and shards: the pieces `evaluate` resumes and splits with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.models.detect import detect_adapter
from robustbench_mllm.records import Item, Prediction
from robustbench_mllm.runners.evaluate.shard import Shard
from robustbench_mllm.store.predictions import append_predictions, read_predictions


def test_torn_tail_is_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    append_predictions(path, [Prediction("a", "d", "clean", "yes")])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "b", "ans')  # a write cut short by kill -9
    assert list(read_predictions(path)) == ["a"]
    append_predictions(path, [Prediction("b", "d", "clean", "no")])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]


def test_bad_line_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "dataset": "d", "variant": "clean"}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match="p.jsonl: line 1: missing field 'answer'"):
        read_predictions(path)


def test_shards_partition_items_deterministically() -> None:
    items = [Item(id=f"q{i}", dataset="d", split="s", question="?", image=None, image_id="i") for i in range(200)]
    shards = [Shard.parse(f"{i}/3") for i in range(3)]
    owners = [[s.selects(item) for s in shards].count(True) for item in items]
    assert owners == [1] * 200  # every item in exactly one shard
    assert all(40 < sum(s.selects(item) for item in items) < 95 for s in shards)
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(ValueError, match='`shard`'):
            Shard.parse(bad)


def test_unknown_model_type_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_vl"}', encoding="utf-8")
    with pytest.raises(DataFormatError, match="model_type 'qwen2_vl' has no adapter"):
        detect_adapter(str(tmp_path))
