"""The Hub dataset card (README.md) of a published suite, rendered from ``data_cards/``.

The YAML header is dumped with PyYAML (correct quoting of names like ``frost+translate_greek_s3``)
and lists every config with its ``data_files``, so ``load_dataset(repo, name=variant)`` works
without a loading script. The template ships inside the package (``robustbench_mllm/data_cards``
links to the repository's ``data_cards/`` folder and is packaged as package data).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robustbench_mllm import __version__
from robustbench_mllm.publish.configs import SPLIT, HubConfig
from robustbench_mllm.store.manifest import manifest_sha256, read_manifest

TEMPLATE = "shifted_suite.md.j2"
TRANSLATION_LANGUAGES = {"translate_arabic": "ar", "translate_greek": "el", "translate_hindi": "hi"}
_SIZE_BOUNDS = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


def size_category(rows: int) -> str:
    return next((label for bound, label in _SIZE_BOUNDS if rows < bound), "1M<n<10M")


def languages(configs: Sequence[HubConfig]) -> list[str]:
    found = {"en"}
    for config in configs:
        for part in config.perturbation.split("+"):
            if part in TRANSLATION_LANGUAGES:
                found.add(TRANSLATION_LANGUAGES[part])
    return sorted(found)


def source_datasets(manifest: dict[str, Any]) -> list[str]:
    """``extended|<hub id>`` for sources read from the Hub (their homepage is the Hub page or
    ``--source`` names a Hub id), else ``extended|<data set>``."""
    hub_prefix = "https://huggingface.co/datasets/"
    source = str((manifest.get("parameters") or {}).get("source") or "")
    found = set()
    for name, info in (manifest.get("datasets") or {}).items():
        homepage = str(info.get("homepage") or "")
        if homepage.startswith(hub_prefix):
            found.add(f"extended|{homepage[len(hub_prefix):]}")
        elif source.count("/") == 1 and not Path(source).exists():
            found.add(f"extended|{source}")
        else:
            found.add(f"extended|{name}")
    return sorted(found) or ["original"]


def metadata(configs: Sequence[HubConfig], manifest: dict[str, Any], pretty_name: str) -> dict[str, Any]:
    return {
        "pretty_name": pretty_name,
        "license": "other",
        "license_name": "per-source",
        "task_categories": ["visual-question-answering"],
        "language": languages(configs),
        "size_categories": [size_category(sum(c.rows for c in configs))],
        "source_datasets": source_datasets(manifest),
        "tags": ["robustness", "distribution-shift", "image-corruption", "multimodal", "robust-mllm"],
        "configs": [{"config_name": c.name, "data_files": [{"split": SPLIT, "path": f"{c.name}/{SPLIT}-*"}]}
                    for c in configs],
    }


def perturbation_rows(configs: Sequence[HubConfig]) -> list[dict[str, Any]]:
    """Each perturbation in the suite with its parameters at the severities published."""
    from robustbench_mllm.registry import load_registry

    registry = load_registry("perturbations")
    severities: dict[str, set[int]] = {}
    for config in configs:
        if config.modality != "clean":
            for part in config.perturbation.split("+"):
                severities.setdefault(part, set()).add(config.severity)
    rows = []
    for name in sorted(severities):
        levels = sorted(severities[name])
        if name in registry:
            pert = registry.get(name)
            rows.append({"name": name, "modality": pert.modality, "category": pert.category,
                         "params": _by_severity(levels, [pert.params(s) for s in levels])})
        else:
            rows.append({"name": name, "modality": "?", "category": "not registered in this version",
                         "params": _by_severity(levels, ["–"] * len(levels))})
    return rows


def _by_severity(levels: Sequence[int], params: Sequence[str]) -> list[tuple[str, str]]:
    """("severity 1", params) per level, or one entry when every level has the same parameters
    (translations do not vary with severity)."""
    if len(set(params)) == 1 and len(levels) > 1:
        return [("severities " + ", ".join(map(str, levels)), params[0])]
    return [(f"severity {level}", text) for level, text in zip(levels, params, strict=True)]


def render_card(generated: Path, configs: Sequence[HubConfig], repo_id: str, pretty_name: str | None = None) -> str:
    import jinja2
    import yaml

    manifest = read_manifest(generated)
    name = pretty_name or f"{repo_id.split('/')[-1]} (robust-mllm shifted suite)"
    datasets = manifest.get("datasets") or {}
    context = {
        "metadata_yaml": yaml.safe_dump(metadata(configs, manifest, name), sort_keys=False, allow_unicode=True),
        "pretty_name": name,
        "repo_id": repo_id,
        "tool_version": manifest.get("tool_version", __version__),
        "dataset_names": sorted({c.dataset for c in configs}),
        "example_config": next((c.name for c in configs if c.modality != "clean"), configs[0].name),
        "configs": configs,
        "perturbations": perturbation_rows(configs),
        "parameters": sorted((manifest.get("parameters") or {}).items()),
        "manifest_sha256": manifest_sha256(generated),
        "failures": (manifest.get("failures") or {}).get("count", 0),
        "datasets": [{"name": n, "task": d.get("task", "?"), "n_items": d.get("items", "?"),
                      "license": d.get("license", "unknown"), "citation": d.get("citation", ""),
                      "homepage": d.get("homepage", "")} for n, d in sorted(datasets.items())],
    }
    env = jinja2.Environment(loader=jinja2.PackageLoader("robustbench_mllm", "data_cards"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(TEMPLATE).render(**context)
