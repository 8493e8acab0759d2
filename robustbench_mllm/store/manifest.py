"""``GENERATED/manifest.json`` and ``GENERATED/failures.jsonl``: written and read only here.

The manifest holds no timestamps or timings: the same command twice gives a byte-identical
manifest, and its sha256 (``manifest_sha256``) pins the whole data set. ``generate`` writes it
first with ``complete: false`` (so a resumed run can check that it continues the same
generation), and rewrites it from the files on disk when the run finishes; ``import-shifted``
adds its variants to it (``add_imported_variants``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from robustbench_mllm import __version__
from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import atomic_write_json, atomic_write_jsonl, read_json, sha256_file
from robustbench_mllm.protocols import UNRECORDED_PROTOCOL, Protocol, get_protocol
from robustbench_mllm.records import SourceInfo, VariantSpec
from robustbench_mllm.store.layout import FAILURES, MANIFEST, variant_file
from robustbench_mllm.store.variants import list_variants, row_count

MANIFEST_VERSION = 1


def recorded_protocol(data: Path) -> str | None:
    """The protocol ``generate`` recorded for the folder ``data`` (None: no manifest, or one
    written before protocols existed, which is ``canonical``'s behaviour)."""
    path = Path(data) / MANIFEST
    if not path.is_file():
        return None
    parameters = read_json(path).get("parameters") or {}
    return parameters.get("protocol") or UNRECORDED_PROTOCOL


def resolve_protocol(data: Path, override: str | None) -> Protocol:
    """The protocol a stage applies to the folder ``data``: ``override`` when given, else what
    ``generate`` recorded there, else the default."""
    return get_protocol(override or recorded_protocol(data))


def generation_record(data: Path) -> dict[str, Any]:
    """What ``generate`` recorded about how the data was made beyond the protocol's own record
    (image storage, asset hashes, similarity filter, translation prompt hash), for results files;
    empty for folders written before it was recorded."""
    path = Path(data) / MANIFEST
    section = (read_json(path).get("protocol") if path.is_file() else None) or {}
    fields = set(get_protocol(section.get("name")).record()) if section.get("name") else set()
    return {k: v for k, v in section.items() if k not in fields}


def check_resumable(out: Path, identity: dict[str, Any]) -> None:
    """Refuse to mix generations: an existing manifest must have the same identity parameters."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return
    previous = read_json(path).get("parameters")
    if previous != identity:
        changed = sorted(k for k in set(identity) | set(previous or {}) if (previous or {}).get(k) != identity.get(k))
        raise DataFormatError(
            f"{path}: this folder was generated with different parameters ({', '.join(changed)}); "
            "use another `out` folder or delete this one"
        )


def write_failures(out: Path, failures: Sequence[dict[str, Any]]) -> None:
    """All failures of this generation, sorted, written whole (a rerun writes the same bytes)."""
    ordered = sorted(failures, key=lambda f: (f["dataset"], f["image_id"], f["item_id"]))
    atomic_write_jsonl(Path(out) / FAILURES, ordered)


def _file_entry(out: Path, dataset: str, variant: str, sha256: str | None = None) -> dict[str, Any]:
    """Where a variant file is, its row count and its sha256 (hashed here unless known)."""
    path = variant_file(out, dataset, variant)
    return {"file": path.relative_to(out).as_posix(), "rows": row_count(path), "sha256": sha256 or sha256_file(path)}


def _header(complete: bool, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"manifest_version": MANIFEST_VERSION, "tool": "robust-mllm", "tool_version": __version__,
            "complete": complete, "parameters": parameters}


def _variant_entry(out: Path, dataset: str, variant: str, seed: int, sha256: str | None) -> dict[str, Any]:
    spec = VariantSpec.parse(variant, seed=seed)
    return {
        **_file_entry(out, dataset, variant, sha256),
        "modality": spec.modality,
        "perturbation": spec.perturbation,
        "severity": 0 if spec.modality == "clean" else spec.severity,
    }


def build_manifest(
    out: Path, identity: dict[str, Any], infos: Sequence[SourceInfo], items: dict[str, int], complete: bool,
    known_sha256: Mapping[tuple[str, str], str] | None = None, protocol: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``known_sha256``: ``{(dataset, variant): sha256}`` of files hashed when written; the other
    variant files present (kept from an earlier run) are hashed here. ``protocol``: the protocol's
    record with what this run used under it (storage, assets), stored as the "protocol" key."""
    known = known_sha256 or {}
    out = Path(out)
    present = list_variants(out) if complete else {}
    datasets = {
        info.dataset: {
            "task": info.task,
            "license": info.license,
            "citation": info.citation,
            "homepage": info.homepage,
            "items": items.get(info.dataset, 0),
            "variants": {
                v: _variant_entry(out, info.dataset, v, identity["seed"], known.get((info.dataset, v)))
                for v in present.get(info.dataset, [])
            },
        }
        for info in infos
    }
    manifest = {**_header(complete, identity), **({"protocol": dict(protocol)} if protocol else {}), "datasets": datasets}
    failures = out / FAILURES
    if complete and failures.is_file():
        count = sum(1 for line in failures.read_text(encoding="utf-8").splitlines() if line.strip())
        manifest["failures"] = {"file": FAILURES, "count": count, "sha256": sha256_file(failures)}
    return manifest


def write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(Path(out) / MANIFEST, manifest)


def _existing_manifest(data: Path) -> Path:
    path = Path(data) / MANIFEST
    if not path.is_file():
        raise MissingResourceError(f"{path}: missing (is {data} a `robust-mllm generate` output?)")
    return path


def read_manifest(data: Path) -> dict[str, Any]:
    path = _existing_manifest(data)
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise DataFormatError(f"{path}: expected a JSON object")
    return manifest


def manifest_sha256(data: Path) -> str:
    """sha256 of ``manifest.json``: it lists the sha256 of every data file, so this one hash pins
    the whole generated data set (run.json records it)."""
    return sha256_file(_existing_manifest(data))


def add_imported_variants(out: Path, source: str, entries: Sequence[tuple[str, str, dict[str, Any]]],
                          homepage: dict[str, str]) -> None:
    """Record variants imported from ``source`` (``(dataset, variant, extra fields)`` each, the
    variant files already in place) in ``out``'s manifest, in the generate command's layout;
    entries of an earlier import into ``out`` stay. ``homepage``: dataset -> its page."""
    path = Path(out) / MANIFEST
    manifest: dict[str, Any] = read_json(path) if path.is_file() else {**_header(True, {"imported": []}), "datasets": {}}
    manifest["parameters"].setdefault("imported", [])
    if source not in manifest["parameters"]["imported"]:
        manifest["parameters"]["imported"] = sorted([*manifest["parameters"]["imported"], source])
    for dataset, variant, extra in entries:
        entry = manifest["datasets"].setdefault(dataset, {
            "task": "open_ended", "license": "see the data set card", "citation": "",
            "homepage": homepage[dataset], "items": 0, "variants": {},
        })
        entry["variants"][variant] = {**_file_entry(out, dataset, variant), **extra}
        if variant == "clean":
            entry["items"] = entry["variants"][variant]["rows"]
    atomic_write_json(path, manifest)
