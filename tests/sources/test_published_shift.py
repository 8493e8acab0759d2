"""Import of the authors' shifted LB-COCO sets, on a local copy saved in their schema."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.runners.import_shifted import import_shifted
from robustbench_mllm.sources.published_shift import parse_split
from robustbench_mllm.store.variants import list_variants, load_items

ROWS = 4


def _png(seed: int) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _save_copy(path: Path, splits: dict[str, int]) -> Path:
    """A DatasetDict in the published schema (image, question, reference_answer); ``splits`` maps
    split name -> image seed offset (a shifted split has other image bytes)."""
    import datasets

    features = datasets.Features({
        "image": datasets.Image(), "question": datasets.Value("string"),
        "reference_answer": datasets.Value("string"),
    })
    data = {
        name: datasets.Dataset.from_dict({
            "image": [{"bytes": _png(offset + i // 2), "path": None} for i in range(ROWS)],
            "question": [f"{name} question {i}" for i in range(ROWS)],
            "reference_answer": [f"answer {i}" for i in range(ROWS)],
        }, features=features)
        for name, offset in splits.items()
    }
    datasets.DatasetDict(data).save_to_disk(str(path))
    return path


def test_split_names_map_to_our_variants() -> None:
    cases = {
        "llava_bench_coco": ("clean", "clean", 0),
        "llava_bench_coco_frost_3": ("frost_s3", "visual", 3),
        "llava_bench_coco_defocus_blur_5": ("defocus_blur_s5", "visual", 5),
        "llava_bench_coco_sr_4": ("sr4", "text", 4),
        "llava_bench_coco_KeyboardAug_1": ("keyboard1", "text", 1),
        "llava_bench_coco_frost_3_sr_4": ("frost+sr4_s3", "joint", 3),
        "llava_bench_coco_defocus_blur_1_KeyboardAug_3": ("defocus_blur+keyboard3_s1", "joint", 1),
        "llava_bench_coco_English": ("clean", "clean", 0),
        "llava_bench_coco_Greek": ("translate_greek", "text", 0),
        "llava_bench_in_the_wild_hard_Hindi": ("wild_hard+translate_hindi", "joint", 0),
    }
    for split, (variant, modality, severity) in cases.items():
        shift = parse_split(split, "synthetic")
        assert (shift.variant, shift.modality, shift.severity) == (variant, modality, severity), split
    with pytest.raises(DataFormatError, match="not a llava_bench"):
        parse_split("mmmu_validation", "synthetic")


def test_synthetic_copy_imports_as_paired_variants(tmp_path: Path) -> None:
    splits = {"llava_bench_coco": 0, "llava_bench_coco_frost_3": 100,
              "llava_bench_coco_sr_4": 0, "llava_bench_coco_frost_3_sr_4": 100}
    source = _save_copy(tmp_path / "synthetic-copy", splits)
    out = tmp_path / "generated"
    import_shifted(str(source), out)

    dataset = "lbcoco_shift_synthetic"
    assert list_variants(out) == {dataset: ["clean", "frost+sr4_s3", "frost_s3", "sr4"]}
    clean = load_items(out, dataset, "clean")
    joint = load_items(out, dataset, "frost+sr4_s3")
    assert [i.id for i in clean] == [i.id for i in joint] == [f"q{i:03d}" for i in range(ROWS)]
    assert [i.image_id for i in joint] == [i.image_id for i in clean]  # named by the clean image
    assert len({i.image_id for i in clean}) == ROWS // 2  # rows sharing an image share its id
    assert joint[1].question == "llava_bench_coco_frost_3_sr_4 question 1"
    assert joint[0].image == _png(100) and clean[0].reference_answer == "answer 0"

    manifest = read_json(out / "manifest.json")
    entry = manifest["datasets"][dataset]
    assert entry["items"] == ROWS and set(entry["variants"]) == {"clean", "frost+sr4_s3", "frost_s3", "sr4"}
    assert entry["variants"]["frost+sr4_s3"] | {"sha256": None} == {
        "file": f"{dataset}/frost+sr4_s3/data.parquet", "rows": ROWS, "sha256": None,
        "modality": "joint", "perturbation": "frost+sr4", "severity": 3,
        "source_split": "llava_bench_coco_frost_3_sr_4",
    }


def test_natural_copy_through_the_command(tmp_path: Path) -> None:
    splits = {"llava_bench_coco_English": 0, "llava_bench_coco_Greek": 0,
              "llava_bench_in_the_wild_hard_English": 50, "llava_bench_in_the_wild_hard_Greek": 50}
    source = _save_copy(tmp_path / "natural-copy", splits)
    out = tmp_path / "generated"
    result = CliRunner().invoke(app, ["import-shifted", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert list_variants(out) == {"lbcoco_shift_natural": [
        "clean", "translate_greek", "wild_hard", "wild_hard+translate_greek"]}
    wild = load_items(out, "lbcoco_shift_natural", "wild_hard+translate_greek")
    assert [i.id for i in wild] == [f"wild_hard_{i:03d}" for i in range(ROWS)]
    assert wild[0].image_id == load_items(out, "lbcoco_shift_natural", "wild_hard")[0].image_id

    again = CliRunner().invoke(app, ["import-shifted", str(source), "--out", str(out), "--splits", "nope"])
    assert again.exit_code == 2 and "no split(s) ['nope']" in " ".join(again.output.split())


def test_missing_column_names_the_split(tmp_path: Path) -> None:
    import datasets

    datasets.DatasetDict({"llava_bench_coco": datasets.Dataset.from_dict(
        {"image": [{"bytes": _png(0), "path": None}], "question": ["q"]},
        features=datasets.Features({"image": datasets.Image(), "question": datasets.Value("string")}),
    )}).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(DataFormatError, match=r"llava_bench_coco: missing column\(s\) \['reference_answer'\]"):
        import_shifted(str(tmp_path / "bad"), tmp_path / "out")
