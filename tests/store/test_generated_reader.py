"""Reading generated data back: only complete variants count."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_mllm.io_utils import sha256_file
from robustbench_mllm.records import Item, VariantSpec
from robustbench_mllm.store.manifest import manifest_sha256
from robustbench_mllm.store.variant_schema import item_to_row
from robustbench_mllm.store.variant_writer import write_rows
from robustbench_mllm.store.variants import list_variants, load_items


def _write(root: Path, dataset: str, folder: str, spec: VariantSpec) -> None:
    item = Item(id="q1", dataset=dataset, split="test", question="Is it?", image=None, image_id="i1")
    (root / dataset / folder).mkdir(parents=True)
    write_rows(root / dataset / folder / "data.parquet", [item_to_row(item, spec, b"\x89PNG", "png")])


def test_lists_complete_variants_only(tmp_path: Path) -> None:
    _write(tmp_path, "ds", "frost_s3", VariantSpec(visual="frost"))
    _write(tmp_path, "ds", "clean", VariantSpec())
    _write(tmp_path, "ds", ".zoom_blur_s3.tmp-42", VariantSpec(visual="zoom_blur"))  # a crash leftover
    (tmp_path / "ds" / "empty_s1").mkdir()
    (tmp_path / "other").mkdir()
    assert list_variants(tmp_path) == {"ds": ["clean", "frost_s3"]}
    (item,) = load_items(tmp_path, "ds", "frost_s3")
    assert item.id == "q1" and item.image == b"\x89PNG"
    with pytest.raises(FileNotFoundError, match="Present: ds/clean, ds/frost_s3"):
        load_items(tmp_path, "ds", "zoom_blur_s3")
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        manifest_sha256(tmp_path)
    (tmp_path / "manifest.json").write_text("{}\n")
    assert manifest_sha256(tmp_path) == sha256_file(tmp_path / "manifest.json")
