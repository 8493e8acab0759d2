"""The Hub dataset card (README.md) and LICENSE.md of a published suite, rendered from ``data_cards/``.

The YAML header is ``huggingface_hub``'s ``DatasetCardData`` with the ``dataset_info`` block
``datasets`` itself writes (``DatasetInfosDict.to_dataset_card_data``: features, split sizes per
config). It lists every config with its ``data_files``, the clean variant marked ``default`` (so
``load_dataset(repo)`` needs no config name), ``license: other`` with its ``license_name`` and
``license_link`` (LICENSE.md: each source's license), and ``source_datasets`` only where a source
is a Hub data set. The body records the protocol and every generation detail the manifest holds,
read generically so that new manifest fields show up without a change here. The template ships
inside the package (``robustbench_mllm/data_cards`` links to the repository's ``data_cards/``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm import __version__
from robustbench_mllm.protocols import UNRECORDED_PROTOCOL, get_protocol, protocol_registry
from robustbench_mllm.publish.configs import SPLIT, HubConfig
from robustbench_mllm.store.manifest import manifest_sha256, read_manifest, recorded_protocol
from robustbench_mllm.store.published import PublishedFile

TEMPLATE = "shifted_suite.md.j2"
LICENSE_FILE = "LICENSE.md"
LICENSE_NAME = "per-source-licenses"
HUB_PREFIX = "https://huggingface.co/datasets/"
TRANSLATION_LANGUAGES = {"translate_arabic": "ar", "translate_greek": "el", "translate_hindi": "hi"}
_SIZE_BOUNDS = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
# manifest keys the card shows in their own sections; any other key is listed as a generation record
_SHOWN_KEYS = {"manifest_version", "tool", "tool_version", "complete", "parameters", "datasets", "failures",
               "protocol"}


@dataclass(frozen=True)
class PublishedConfig:
    config: HubConfig
    file: PublishedFile
    sha256: str  # of the uploaded file


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
    """The Hub ids of the sources read from the Hub: a homepage on the Hub, or a ``source``
    parameter that names a Hub id. Other sources have no Hub id and are not listed."""
    source = str((manifest.get("parameters") or {}).get("source") or "")
    found = set()
    for info in (manifest.get("datasets") or {}).values():
        homepage = str(info.get("homepage") or "")
        if homepage.startswith(HUB_PREFIX):
            found.add(homepage[len(HUB_PREFIX):].strip("/"))
        elif source.count("/") == 1 and not source.startswith((".", "/")) and not Path(source).exists():
            found.add(source)
    return sorted(found)


def default_config(published: Sequence[PublishedConfig]) -> str:
    """The first clean config (the first data set's, in a suite of several), else the first."""
    return next((p.config.name for p in published if p.config.modality == "clean"), published[0].config.name)


def card_data(published: Sequence[PublishedConfig], manifest: dict[str, Any], pretty_name: str) -> Any:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    configs = [p.config for p in published]
    default = default_config(published)
    data = DatasetCardData(
        pretty_name=pretty_name, license="other", license_name=LICENSE_NAME, license_link=LICENSE_FILE,
        task_categories=["visual-question-answering"], language=languages(configs),
        size_categories=[size_category(sum(c.rows for c in configs))],
        tags=["robustness", "distribution-shift", "image-corruption", "multimodal", "robust-mllm"],
        configs=[{"config_name": c.name, **({"default": True} if c.name == default else {}),
                  "data_files": [{"split": SPLIT, "path": f"{c.name}/{SPLIT}-*"}]} for c in configs],
        source_datasets=source_datasets(manifest) or None,
    )
    infos = {}
    for p in published:
        splits = SplitDict()
        splits.add(SplitInfo(name=SPLIT, num_bytes=p.file.num_bytes, num_examples=p.config.rows))
        infos[p.config.name] = DatasetInfo(features=p.file.features, splits=splits,
                                           download_size=p.file.download_size, dataset_size=p.file.num_bytes)
    DatasetInfosDict(infos).to_dataset_card_data(data)
    return data


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


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def protocol_record(generated: Path, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """What the manifest records about the protocol: its full record when it holds one, else the
    name from the parameters with the version this robust-mllm registers under that name (a
    manifest from before protocols: ``canonical``)."""
    record = manifest.get("protocol")
    if isinstance(record, Mapping):
        return [(str(k), _shown(v)) for k, v in record.items()]
    name = recorded_protocol(generated) or UNRECORDED_PROTOCOL
    rows = [("name", name)]
    if name in protocol_registry:
        rows.append(("version", f"{get_protocol(name).version} (as robust-mllm {__version__} registers it)"))
    if "protocol" not in (manifest.get("parameters") or {}):
        rows.append(("note", "the manifest predates protocols: canonical's behaviour"))
    return rows


def license_text(manifest: dict[str, Any], pretty_name: str) -> str:
    lines = [f"# Licenses of {pretty_name}", "",
             "The perturbed copies inherit the licenses of their sources:", ""]
    for name, info in sorted((manifest.get("datasets") or {}).items()):
        homepage = f" ({info['homepage']})" if info.get("homepage") else ""
        lines.append(f"- **{name}**{homepage}: {info.get('license', 'unknown')}")
    return "\n".join(lines) + "\n"


def render_card(generated: Path, published: Sequence[PublishedConfig], repo_id: str, name: str) -> str:
    import jinja2

    manifest = read_manifest(generated)
    configs = [p.config for p in published]
    datasets = manifest.get("datasets") or {}
    protocol = protocol_record(generated, manifest)
    context = {
        "metadata_yaml": card_data(published, manifest, name).to_yaml(),
        "pretty_name": name,
        "repo_id": repo_id,
        "tool_version": manifest.get("tool_version", __version__),
        "dataset_names": sorted({c.dataset for c in configs}),
        "default_config": default_config(published),
        "example_config": next((c.name for c in configs if c.modality != "clean"), configs[0].name),
        "published": published,
        "perturbations": perturbation_rows(configs),
        "protocol": protocol,
        "protocol_name": next((value for key, value in protocol if key == "name"), "?"),
        "parameters": [(k, _shown(v)) for k, v in sorted((manifest.get("parameters") or {}).items())],
        "records": [(k, _shown(v)) for k, v in sorted(manifest.items()) if k not in _SHOWN_KEYS],
        "manifest_sha256": manifest_sha256(generated),
        "failures": (manifest.get("failures") or {}).get("count", 0),
        "omitted": sorted({c for p in published for c in p.file.dropped}),
        "datasets": [{"name": n, "task": d.get("task", "?"), "n_items": d.get("items", "?"),
                      "license": d.get("license", "unknown"), "citation": d.get("citation", ""),
                      "homepage": d.get("homepage", "")} for n, d in sorted(datasets.items())],
    }
    env = jinja2.Environment(loader=jinja2.PackageLoader("robustbench_mllm", "data_cards"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(TEMPLATE).render(**context)
