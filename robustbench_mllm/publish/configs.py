"""Which Hub configs a generated suite becomes: one config per variant, split ``test``.

A suite with one data set names its configs after the variants (``clean``, ``frost_s3``); a suite
with several (the sample suite: ``sample_lbcoco`` + ``sample_pope``) prefixes the data set,
``sample_pope-frost_s3``, since every data set has its own ``clean``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import sha256_file
from robustbench_mllm.store.layout import variant_file
from robustbench_mllm.store.manifest import read_manifest
from robustbench_mllm.store.variants import list_variants, read_columns, row_count

SPLIT = "test"


@dataclass(frozen=True)
class HubConfig:
    name: str
    dataset: str
    variant: str
    source_file: Path
    rows: int
    sha256: str
    modality: str
    perturbation: str
    severity: int

    @property
    def path_in_repo(self) -> str:
        """Where the variant's parquet lands: ``<config>/test-00000-of-00001.parquet``, the layout
        ``push_to_hub`` uses, so the card's ``data_files`` globs are the usual ones."""
        return f"{self.name}/{SPLIT}-00000-of-00001.parquet"


def plan_configs(generated: Path) -> list[HubConfig]:
    """Every complete variant listed in the manifest, checked against the files on disk."""
    generated = Path(generated)
    manifest = read_manifest(generated)
    if manifest.get("complete") is False:
        raise DataFormatError(
            f"{generated}/manifest.json: generation is not complete; finish `robust-mllm generate` first")
    on_disk = list_variants(generated)
    listed: dict[str, Any] = manifest.get("datasets") or {}
    if not on_disk:
        raise DataFormatError(f"{generated}: no variants to publish")
    several = len(on_disk) > 1
    configs = []
    for dataset, variants in on_disk.items():
        entry = listed.get(dataset) or {}
        if not isinstance(entry, dict) or not isinstance(entry.get("variants") or {}, dict):
            raise DataFormatError(f"{generated}/manifest.json: `datasets.{dataset}` is not in the format "
                                  "`robust-mllm generate` writes; regenerate the folder")
        entries = entry.get("variants") or {}
        for variant in variants:
            configs.append(_config(generated, dataset, variant, entries.get(variant), several))
    return configs


def _config(generated: Path, dataset: str, variant: str, entry: dict[str, Any] | None,
            several: bool) -> HubConfig:
    path = variant_file(generated, dataset, variant)
    digest = sha256_file(path)
    if entry is None:
        raise DataFormatError(f"{generated}/manifest.json: variant {dataset}/{variant} is on disk but not listed")
    if entry.get("sha256") and entry["sha256"] != digest:
        raise DataFormatError(
            f"{path}: sha256 {digest[:12]}... differs from manifest.json ({str(entry['sha256'])[:12]}...)")
    first = read_columns(path, ["modality", "perturbation", "severity"])[:1]
    meta = first[0] if first else {}
    return HubConfig(
        name=f"{dataset}-{variant}" if several else variant, dataset=dataset, variant=variant, source_file=path,
        rows=row_count(path), sha256=digest,
        # The rows carry the spec the generator applied; the manifest's copy is the fallback.
        modality=str(meta.get("modality") or entry.get("modality", "")),
        perturbation=str(meta.get("perturbation") or entry.get("perturbation", variant)),
        severity=int(meta.get("severity", entry.get("severity", 0)) or 0),
    )
