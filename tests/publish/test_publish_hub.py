"""`robust-mllm publish`: the staged folder loads config by config; the upload is checked at the
HfApi boundary with a recording fake; the token comes from HF_TOKEN and never leaks."""

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


def test_uploaded_files_are_the_generated_bytes(staged: Path, report_suite: dict[str, Path]) -> None:
    manifest = read_manifest(report_suite["generated"])
    entry = manifest["datasets"]["tiny_pope"]["variants"]["frost_s5"]
    copied = staged / "tiny_pope-frost_s5" / "test-00000-of-00001.parquet"
    original = variant_file(report_suite["generated"], "tiny_pope", "frost_s5")
    assert sha256_file(copied) == entry["sha256"] == sha256_file(original)


def test_card_metadata_and_body(staged: Path) -> None:
    readme = (staged / "README.md").read_text()
    meta = _front_matter(readme)
    assert meta["task_categories"] == ["visual-question-answering"]
    assert meta["language"] == ["el", "en"]  # a Greek translation variant is in the suite
    assert meta["size_categories"] == ["n<1K"] and meta["license"] == "other"
    assert "frost_weight" in readme  # the registry's parameters of frost at the published severities
    for text in ("seed", "MIT", "CC-BY-4.0", "Visual Instruction Bottleneck Tuning",
                 'load_dataset("me/tiny-shift", name='):
        assert text in readme, text


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


def test_token_only_from_env_and_never_printed(report_suite: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["publish", str(report_suite["generated"]), "--repo-id", "me/x"])
    assert result.exit_code == 2 and "HF_TOKEN" in result.output
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setattr(hub, "default_api", RecordingHfApi)
    result = CliRunner().invoke(app, ["publish", str(report_suite["generated"]), "--repo-id", "me/x"])
    assert result.exit_code == 0, result.output
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
    assert template.is_file() and "configs" in template.read_text()


def test_source_datasets_and_size_categories_follow_hub_conventions() -> None:
    from robustbench_mllm.publish.card import size_category, source_datasets

    manifest = {"parameters": {"source": None}, "datasets": {
        "pope": {"homepage": "https://huggingface.co/datasets/lmms-lab/POPE"},
        "lbcoco": {"homepage": "https://github.com/haotian-liu/LLaVA"}}}
    assert source_datasets(manifest) == ["extended|lbcoco", "extended|lmms-lab/POPE"]
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
