"""Generate on the embedded sample suite: determinism, joint = visual image + textual text,
resume after a crash, manifest hashes, loading back with ``datasets``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import robustbench_mllm.runners.generate.worker as worker
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_json, sha256_file
from robustbench_mllm.runners.generate.plan import GenerateConfig
from robustbench_mllm.runners.generate.run import run_generate
from robustbench_mllm.store.manifest import manifest_sha256
from robustbench_mllm.store.variants import list_variants, load_items

PARAMS = GenerateConfig(perturbations="frost,char_typo,frost+char_typo,word_delete", limit=2)
EXPECTED = ["clean", "char_typo_s3", "frost+char_typo_s3", "frost_s3", "word_delete_s3"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "out"
    run_generate(PARAMS, out)
    return out


def test_variants_and_manifest(generated: Path) -> None:
    present = list_variants(generated)
    assert present == {"sample_lbcoco": EXPECTED, "sample_pope": EXPECTED}
    manifest = read_json(generated / "manifest.json")
    assert manifest["complete"] is True and "time" not in str(manifest).lower()
    assert manifest_sha256(generated) == sha256_file(generated / "manifest.json")
    for dataset, variants in present.items():
        entries = manifest["datasets"][dataset]["variants"]
        assert sorted(entries) == sorted(variants)
        for name, entry in entries.items():
            assert entry["sha256"] == sha256_file(generated / entry["file"])
            assert entry["rows"] == len(load_items(generated, dataset, name))
    assert manifest["datasets"]["sample_pope"]["items"] == 6  # --limit 2 per split


def test_joint_reuses_visual_image_and_textual_question(generated: Path) -> None:
    def load(variant: str) -> list:
        return load_items(generated, "sample_lbcoco", variant)

    clean, frost, typo, joint = load("clean"), load("frost_s3"), load("char_typo_s3"), load("frost+char_typo_s3")
    assert [i.id for i in joint] == [i.id for i in clean]
    assert [i.image for i in joint] == [i.image for i in frost]
    assert [i.question for i in joint] == [i.question for i in typo]
    assert [i.image for i in typo] == [i.image for i in clean] != [i.image for i in frost]
    assert any(t.question != c.question for t, c in zip(typo, clean))


def test_pope_object_survives_word_edits(generated: Path) -> None:
    from robustbench_mllm.perturbations.text.protect import pope_object

    clean = load_items(generated, "sample_pope", "clean")
    edited = load_items(generated, "sample_pope", "word_delete_s3")
    for before, after in zip(clean, edited):
        assert pope_object(before.question) in after.question and after.label == before.label


def test_loads_with_datasets_parquet(generated: Path) -> None:
    import datasets

    path = generated / "sample_pope" / "frost_s3" / "data.parquet"
    table = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(generated.parent / "c"))
    assert table.num_rows == 6 and isinstance(table.features["image"], datasets.Image)
    row = table[0]
    assert row["image"].mode == "RGB" and row["variant"] == "frost_s3" and row["severity"] == 3
    assert row["modality"] == "visual" and row["perturbation"] == "frost" and row["seed"] == 0


@pytest.mark.slow
def test_same_bytes_with_two_processes_and_after_a_crash(generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parallel = tmp_path / "parallel"
    run_generate(PARAMS, parallel, num_proc=2)
    assert _files(parallel) == _files(generated)

    # A crash after two variants, with a half-written temp folder left behind ...
    crashed = tmp_path / "crashed"
    real_write, calls = worker._write_variant, []

    def crash_on_third(unit, spec, cache):  # type: ignore[no-untyped-def]
        calls.append(spec.name)
        if len(calls) == 3:
            (crashed / unit.dataset / f".{spec.name}.tmp-1").mkdir(parents=True)
            (crashed / unit.dataset / f".{spec.name}.tmp-1" / "data.parquet").write_bytes(b"torn")
            raise KeyboardInterrupt
        return real_write(unit, spec, cache)

    monkeypatch.setattr(worker, "_write_variant", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_generate(PARAMS, crashed)
    assert read_json(crashed / "manifest.json")["complete"] is False
    monkeypatch.setattr(worker, "_write_variant", real_write)
    # ... is finished by a rerun that writes only what is missing, byte for byte the same.
    summary = run_generate(PARAMS, crashed)
    assert len(summary.existing) == 2 and len(summary.written) == 2 * len(EXPECTED) - 2
    assert _files(crashed) == _files(generated)


def test_refuses_to_mix_generations(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(generated, out)
    with pytest.raises(DataFormatError, match="different parameters.*seed"):
        run_generate(GenerateConfig(perturbations="frost", limit=2, seed=1), out)
