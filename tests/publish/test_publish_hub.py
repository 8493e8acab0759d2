"""`robust-mllm publish`: the staged folder loads config by config (and without a config name); the
card is a valid Hub card with datasets' own dataset_info; the upload is checked at the HfApi
boundary with a recording fake; the token is huggingface_hub's (HF_TOKEN or `hf auth login`) and
never leaks."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import sha256_file
from robustbench_mllm.publish import hub
from robustbench_mllm.publish.card import TEMPLATE
from robustbench_mllm.store.layout import variant_file
from robustbench_mllm.store.manifest import read_manifest
from robustbench_mllm.store.published import write_published
from robustbench_mllm.store.variant_writer import write_rows
from robustbench_mllm.store.variants import list_variants

SECRET = "hf_test_secret_token_0123456789"


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi: records every call and what the folder held then."""

    instances: list[RecordingHfApi] = []

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.uploaded: dict[str, bytes] = {}
        RecordingHfApi.instances.append(self)

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kwargs: Any) -> str:
        self.calls.append(("upload_folder", kwargs))
        folder = Path(kwargs["folder_path"])
        self.uploaded = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        return "https://huggingface.co/datasets/commit/abc"


def _front_matter(readme: str) -> dict[str, Any]:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


@pytest.fixture(scope="module")
def staged(report_suite: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dry_run")
    result = CliRunner().invoke(app, ["publish", str(report_suite["generated"]), "--repo-id", "me/tiny-shift",
                                      "--dry-run", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_dry_run_loads_every_config_with_datasets(staged: Path, report_suite: dict[str, Path],
                                                  tmp_path: Path) -> None:
    import datasets

    meta = _front_matter((staged / "README.md").read_text())
    variants = list_variants(report_suite["generated"])
    expected = {f"{d}-{v}" for d, vs in variants.items() for v in vs}
    assert {c["config_name"] for c in meta["configs"]} == expected
    for dataset, names in variants.items():
        for variant in names:
            loaded = datasets.load_dataset(str(staged), name=f"{dataset}-{variant}", split="test",
                                           cache_dir=str(tmp_path / "cache"))
            assert isinstance(loaded.features["image"], datasets.Image)
            assert set(loaded["variant"]) == {variant} and len(loaded) > 0
            assert loaded[0]["image"].size == (32, 24)


def test_uploaded_files_are_the_generated_rows_without_empty_columns(staged: Path, report_suite: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    generated = report_suite["generated"]
    readme = (staged / "README.md").read_text()
    for dataset, dropped in (("tiny_pope", {"choices"}), ("tiny_lbcoco", {"choices", "label"})):
        for variant in list_variants(generated)[dataset]:
            original = variant_file(generated, dataset, variant)
            copied = staged / f"{dataset}-{variant}" / "test-00000-of-00001.parquet"
            before, after = pq.read_table(original), pq.read_table(copied)
            assert set(before.column_names) - set(after.column_names) == dropped
            assert after.to_pylist() == before.drop_columns(sorted(dropped)).to_pylist()
            assert pq.ParquetFile(copied).num_row_groups == pq.ParquetFile(original).num_row_groups
            assert copied.stat().st_size <= original.stat().st_size  # images still stored once per group
            assert f"`{sha256_file(copied)}`" in readme
    # nothing to leave out: the generated file, byte for byte
    full = tmp_path / "full.parquet"
    rows = [{**row, "choices": ["x"]} for row in pq.read_table(variant_file(generated, "tiny_pope", "clean")).to_pylist()]
    write_rows(full, rows)
    assert write_published(full, tmp_path / "copy.parquet").dropped == ()
    assert sha256_file(tmp_path / "copy.parquet") == sha256_file(full)


def test_card_metadata_and_body(staged: Path) -> None:
    readme = (staged / "README.md").read_text()
    meta = _front_matter(readme)
    assert meta["task_categories"] == ["visual-question-answering"]
    assert meta["language"] == ["el", "en"]  # a Greek translation variant is in the suite
    assert meta["size_categories"] == ["n<1K"] and meta["license"] == "other"
    assert meta["license_name"] == "per-source-licenses" and meta["license_link"] == "LICENSE.md"
    assert "source_datasets" not in meta  # no source is a Hub data set
    assert "frost_weight" in readme  # the registry's parameters of frost at the published severities
    for text in ("seed", "MIT", "CC-BY-4.0", "Visual Instruction Bottleneck Tuning",
                 'load_dataset("me/tiny-shift", name=', 'load_dataset("me/tiny-shift", split="test")',
                 "`question_id`", "`gpt_answer`", "`caption`", 'json.loads(row["context"])', "`canonical`"):
        assert text in readme, text
    assert "pypi.org" not in readme
    license_file = (staged / "LICENSE.md").read_text()
    assert "**tiny_pope**: MIT" in license_file and "CC-BY-4.0" in license_file


def test_card_validates_and_lists_every_config(staged: Path, report_suite: dict[str, Path]) -> None:
    import datasets
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard, DatasetCardData

    card = DatasetCard((staged / "README.md").read_text())
    assert isinstance(card.data, DatasetCardData)
    data = card.data.to_dict()
    configs = data["configs"]
    assert [c["config_name"] for c in configs if c.get("default")] == ["tiny_lbcoco-clean"]
    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    assert set(infos) == {c["config_name"] for c in configs}
    for name, info in infos.items():
        dataset, variant = name.split("-", 1)
        published = datasets.Dataset.from_parquet(str(staged / name / "test-00000-of-00001.parquet"))
        assert info.features == published.features, name
        assert isinstance(info.features["image"], datasets.Image)
        assert ("label" in info.features) == (dataset == "tiny_pope") and "choices" not in info.features
        assert info.splits["test"].num_examples == len(published)
        assert info.download_size == (staged / name / "test-00000-of-00001.parquet").stat().st_size
        row = f"| `{name}`{' (default)' if name == 'tiny_lbcoco-clean' else ''} | {dataset} |"
        assert row in card.text, row  # the card's table: perturbation, modality, severity
    manifest = read_manifest(report_suite["generated"])
    for dataset, entry in manifest["datasets"].items():
        for variant, spec in entry["variants"].items():
            line = next(t for t in card.text.splitlines() if t.startswith(f"| `{dataset}-{variant}`"))
            cells = [c.strip() for c in line.split("|")]
            assert cells[3:6] == [spec["modality"], spec["perturbation"], str(spec["severity"] or "–")]


def test_default_config_loads_without_a_name(staged: Path, tmp_path: Path) -> None:
    import datasets

    loaded = datasets.load_dataset(str(staged), split="test", cache_dir=str(tmp_path / "cache"))
    assert set(loaded["variant"]) == {"clean"} and set(loaded["dataset"]) == {"tiny_lbcoco"}
    assert "label" not in loaded.features and "choices" not in loaded.features


def test_card_shows_whatever_the_manifest_records(report_suite: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from robustbench_mllm.io_utils import atomic_write_json

    generated = tmp_path / "gen"
    shutil.copytree(report_suite["generated"], generated)
    manifest = read_manifest(generated)
    manifest["parameters"]["protocol"] = "vittle"
    manifest["parameters"]["translation_prompt_sha256"] = "ab" * 32
    manifest["protocol"] = {"name": "vittle", "version": "7", "image_storage": "jpeg_opencv_q95"}
    manifest["assets"] = {"frost1.png": {"sha256": "cd" * 32, "source": "derived"}}
    manifest["similarity_filter"] = {"enabled": False}
    atomic_write_json(generated / "manifest.json", manifest)
    readme = (hub.stage(generated, "me/x", tmp_path / "staged").folder / "README.md").read_text()
    for text in ("`name`: `vittle`", "`version`: `7`", "`image_storage`: `jpeg_opencv_q95`",
                 f"`translation_prompt_sha256`: `{'ab' * 32}`", "`similarity_filter`: `{\"enabled\": false}`",
                 "cd" * 32, "under the `vittle` protocol"):
        assert text in readme, text
    del manifest["protocol"]
    atomic_write_json(generated / "manifest.json", manifest)
    readme = (hub.stage(generated, "me/x", tmp_path / "staged2").folder / "README.md").read_text()
    assert "`version`: `1 (as robust-mllm" in readme and "predates" not in readme


def test_upload_sends_the_staged_folder_once(report_suite: dict[str, Path], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    RecordingHfApi.instances.clear()
    hub.publish(report_suite["generated"], "me/tiny-shift", private=True, api_factory=RecordingHfApi)
    (api,) = RecordingHfApi.instances
    assert api.token == SECRET
    assert [name for name, _ in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1] == {"repo_id": "me/tiny-shift", "repo_type": "dataset", "private": True, "exist_ok": True}
    upload = api.calls[1][1]
    assert upload["repo_id"] == "me/tiny-shift" and upload["repo_type"] == "dataset"
    dry = tmp_path / "dry"
    hub.publish(report_suite["generated"], "me/tiny-shift", dry_run=dry)
    expected = {p.relative_to(dry).as_posix(): p.read_bytes() for p in dry.rglob("*") if p.is_file()}
    assert api.uploaded == expected  # the dry run is exactly what goes up
    assert all(SECRET.encode() not in data for data in api.uploaded.values())


def test_token_from_env_or_hf_auth_login_and_never_printed(report_suite: dict[str, Path], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capfd: pytest.CaptureFixture[str]) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))  # no login yet
    result = CliRunner().invoke(app, ["publish", str(report_suite["generated"]), "--repo-id", "me/x"])
    assert result.exit_code == 2 and "hf auth login" in result.output and "HF_TOKEN" in result.output
    monkeypatch.setattr(hub, "default_api", RecordingHfApi)
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "token").write_text(SECRET + "\n")  # where `hf auth login` stores it
    for env in ({}, {"HF_TOKEN": "hf_env_token_wins"}):
        RecordingHfApi.instances.clear()
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(app, ["publish", str(report_suite["generated"]), "--repo-id", "me/x"])
        assert result.exit_code == 0, result.output
        assert RecordingHfApi.instances[0].token == env.get("HF_TOKEN", SECRET)
    captured = capfd.readouterr()
    assert SECRET not in result.output + captured.out + captured.err


def test_bad_repo_id_and_incomplete_generation_are_refused(report_suite: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="OWNER/NAME"):
        hub.publish(report_suite["generated"], "no-owner", dry_run=tmp_path / "x")
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "manifest.json").write_text('{"complete": false, "datasets": {}}')
    with pytest.raises(ValueError, match="not complete"):
        hub.publish(tmp_path / "gen", "me/x", dry_run=tmp_path / "y")


def test_card_template_ships_inside_the_package() -> None:
    template = importlib.resources.files("robustbench_mllm") / "data_cards" / TEMPLATE
    assert template.is_file() and "## Configs" in template.read_text()


def test_source_datasets_and_size_categories_follow_hub_conventions() -> None:
    from robustbench_mllm.publish.card import size_category, source_datasets

    manifest = {"parameters": {"source": None}, "datasets": {
        "pope": {"homepage": "https://huggingface.co/datasets/lmms-lab/POPE"},
        "lbcoco": {"homepage": "https://github.com/haotian-liu/LLaVA"}}}
    assert source_datasets(manifest) == ["lmms-lab/POPE"]  # Hub ids only
    manifest["parameters"]["source"] = "me/my-coco-copy"
    assert source_datasets(manifest) == ["lmms-lab/POPE", "me/my-coco-copy"]
    assert [size_category(n) for n in (999, 1000, 90_000, 100_000)] == ["n<1K", "1K<n<10K", "10K<n<100K",
                                                                        "100K<n<1M"]


def test_card_lists_parameters_per_severity_and_once_when_they_do_not_vary(tmp_path: Path) -> None:
    from robustbench_mllm.publish.card import perturbation_rows
    from robustbench_mllm.publish.configs import HubConfig

    def config(perturbation: str, modality: str, severity: int) -> HubConfig:
        return HubConfig(f"{perturbation}_s{severity}", "d", f"{perturbation}_s{severity}", tmp_path, 1, "0" * 64,
                         modality, perturbation, severity)

    configs = [config(p, m, s) for p, m in (("frost", "visual"), ("translate_greek", "text")) for s in (1, 3)]
    rows = {row["name"]: row["params"] for row in perturbation_rows(configs)}
    assert [label for label, _ in rows["frost"]] == ["severity 1", "severity 3"]
    assert rows["frost"][0][1] != rows["frost"][1][1]
    assert [label for label, _ in rows["translate_greek"]] == ["severities 1, 3"]
