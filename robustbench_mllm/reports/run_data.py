"""Read one evaluated run folder for the report: run.json, results.json, predictions, item labels.

Every section is optional: a run that was never judged simply has no judge numbers. Item labels
and image ids come from the generated data the run was evaluated on (run.json names the folder).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import DataFormatError, read_json, read_jsonl, require_field
from robustbench_mllm.layout import RESULTS, RUN_INFO, predictions_file, variant_file
from robustbench_mllm.records import VariantSpec
from robustbench_mllm.results import load_results

# run.json keys that may name the generated data folder, most specific first.
_DATA_DIR_KEYS = ("data_dir", "generated_dir", "data", "generated")
ITEM_COLUMNS = ("id", "image_id", "split", "category", "label", "choices", "question", "reference_answer",
                "modality", "severity", "perturbation")


@dataclass(frozen=True)
class VariantInfo:
    """Where a variant sits in the tables: its perturbation, modality and severity (0 for clean)."""

    name: str
    perturbation: str
    modality: str
    severity: int


@dataclass(frozen=True)
class Run:
    """One run folder as the report sees it."""

    path: Path
    label: str
    info: dict[str, Any]
    results: dict[str, Any]
    data_dir: Path | None
    datasets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dataset -> variants

    def answers(self, dataset: str, variant: str) -> dict[str, str]:
        """``{item id: answer}``; empty when the run has no predictions for the variant."""
        path = predictions_file(self.path, dataset, variant)
        return _read_answers(path, *_version(path))


def load_run(path: Path) -> Run:
    path = Path(path)
    if not path.is_dir() or not any((path / name).exists() for name in (RUN_INFO, RESULTS, "predictions")):
        raise FileNotFoundError(f"{path}: not a run folder (expected run.json, results.json, predictions/ "
                                "from `robust-mllm evaluate`)")
    info_path = path / RUN_INFO
    info = read_json(info_path) if info_path.is_file() else {}
    if not isinstance(info, dict):
        raise DataFormatError(f"{info_path}: expected a JSON object")
    data_dir = next((Path(str(info[k])) for k in _DATA_DIR_KEYS if isinstance(info.get(k), str)), None)
    if data_dir is not None and not data_dir.is_absolute():
        data_dir = (path / data_dir).resolve()
    return Run(path=path, label=run_label(info, path), info=info, results=load_results(path),
               data_dir=data_dir, datasets=_predicted_variants(path))


def with_unique_labels(runs: list[Run]) -> list[Run]:
    """Runs whose labels collide (two checkpoints both named ``checkpoint``) get their run
    folder's name appended, so table rows never merge two models."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
    return [dataclasses.replace(run, label=f"{run.label} ({run.path.name})") if counts[run.label] > 1 else run
            for run in runs]


def run_label(info: dict[str, Any], path: Path) -> str:
    """A short model label for tables: run.json's ``label``, else the model's last path part."""
    for key in ("label", "name"):
        if isinstance(info.get(key), str) and info[key]:
            return info[key]
    model = info.get("model")
    if isinstance(model, dict):
        model = model.get("name") or model.get("path") or model.get("id")
    if isinstance(model, str) and model:
        return model.rstrip("/").split("/")[-1]
    return path.name


def _predicted_variants(run_dir: Path) -> dict[str, tuple[str, ...]]:
    root = run_dir / "predictions"
    if not root.is_dir():
        return {}
    return {
        d.name: tuple(sorted((f.stem for f in d.glob("*.jsonl")), key=lambda v: (v != "clean", v)))
        for d in sorted(root.iterdir()) if d.is_dir()
    }


def _version(path: Path) -> tuple[int, int]:
    """(mtime, size): part of the cache key, so a file rewritten since is read again."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0, -1)
    return (stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _read_answers(path: Path, mtime_ns: int, size: int) -> dict[str, str]:
    if size < 0:
        return {}
    answers: dict[str, str] = {}
    for number, record in enumerate(read_jsonl(path, tolerate_torn_tail=True), start=1):
        where = f"{path}: line {number}"
        answers[str(require_field(record, "id", where))] = str(require_field(record, "answer", where))
    return answers


def read_item_table(data_dir: Path, dataset: str, variant: str) -> tuple[dict[str, Any], ...]:
    """The variant's rows without image bytes (cheap: only the needed parquet columns)."""
    path = variant_file(data_dir, dataset, variant)
    return _read_item_table(path, *_version(path))


@functools.lru_cache(maxsize=256)
def _read_item_table(path: Path, mtime_ns: int, size: int) -> tuple[dict[str, Any], ...]:
    import pyarrow.parquet as pq

    if size < 0:
        return ()
    names = set(pq.read_schema(str(path)).names)
    missing = {"id", "image_id"} - names
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {sorted(missing)}")
    columns = [c for c in ITEM_COLUMNS if c in names]
    return tuple(pq.read_table(str(path), columns=columns).to_pylist())


def variant_info(name: str, data_dir: Path | None = None, dataset: str | None = None) -> VariantInfo:
    """Modality and severity of a variant: from the generated rows when at hand (they say it
    exactly), else parsed from the name with the registered text perturbations."""
    if data_dir is not None and dataset is not None:
        rows = read_item_table(data_dir, dataset, name)
        if rows and "modality" in rows[0]:
            first = rows[0]
            return VariantInfo(name, str(first.get("perturbation") or name), str(first["modality"]),
                               int(first.get("severity") or 0))
    spec = _parse_variant(name)
    severity = 0 if spec.modality == "clean" else spec.severity
    return VariantInfo(name, spec.perturbation, spec.modality, severity)


@functools.lru_cache(maxsize=1024)
def _parse_variant(name: str) -> VariantSpec:
    return VariantSpec.parse(name)
