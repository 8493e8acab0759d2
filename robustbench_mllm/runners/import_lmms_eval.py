"""The import-lmms-eval stage (``robust-mllm import-lmms-eval``): lmms-eval's logged samples of the
exported tasks as a run folder, so ``judge``, ``emid`` and ``report`` score lmms-eval's answers too.

Each samples file belongs to one exported task, hence to one config (data set and variant) of the
generated folder; its ``doc_id`` is the row's index in that config, which is the variant file's
row order (the published parquet is the generated one). Every logged ``target`` (and ``doc.id``,
where logged) is checked against the row, so samples of other data are refused rather than
paired with the wrong items. The run folder gets what ``evaluate`` writes: one predictions file
per imported variant (replaced whole), ``run.json`` (``adapter_name`` ``lmms-eval``, the samples
files and their sha256) and the judge-free metrics in ``results.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import sha256_file
from robustbench_mllm.publish.configs import HubConfig, plan_configs
from robustbench_mllm.publish.lmms_eval import config_task_suffix
from robustbench_mllm.publish.lmms_eval_samples import Sample, read_samples, task_of_file
from robustbench_mllm.records import Prediction
from robustbench_mllm.runners.evaluate.report import score_run
from robustbench_mllm.runners.evaluate.shard import Shard
from robustbench_mllm.store.layout import RUN_INFO, predictions_file
from robustbench_mllm.store.locking import folder_lock
from robustbench_mllm.store.manifest import manifest_sha256, resolve_protocol
from robustbench_mllm.store.predictions import write_predictions
from robustbench_mllm.store.run_info import read_run_info, run_info_path, write_run_info
from robustbench_mllm.store.variants import read_columns

ADAPTER_NAME = "lmms-eval"


@dataclass(frozen=True)
class ImportLmmsEvalConfig:
    samples: tuple[Path, ...]
    data: Path
    out: Path
    model: str | None = None  # None: lmms-eval's model folder the samples files are in
    protocol: str | None = None  # None: the one recorded with the data


@dataclass(frozen=True)
class ImportedFile:
    path: Path
    config: HubConfig
    predictions: int


@dataclass(frozen=True)
class ImportOutcome:
    files: tuple[ImportedFile, ...]
    results: dict[str, Any]


def _target(row: dict[str, Any]) -> str:
    """What the exported task's ``doc_to_target`` names: the label, else the reference answer."""
    return str(row["label"] or row["reference_answer"] or "")


def _predictions(path: Path, config: HubConfig, samples: Sequence[Sample]) -> list[Prediction]:
    rows = read_columns(config.source_file, ["id", "label", "reference_answer"])
    found: dict[str, Prediction] = {}
    for sample in samples:
        where = f"{path}: line {sample.line}"
        if sample.doc_id >= len(rows):
            raise DataFormatError(f"{where}: field 'doc_id' {sample.doc_id} is beyond config {config.name}'s "
                                  f"{len(rows)} rows; these samples are not of this data")
        row = rows[sample.doc_id]
        item_id = str(row["id"])
        for field, logged, expected in (("doc.id", sample.doc_item_id, item_id), ("target", sample.target, _target(row))):
            if logged is not None and logged != expected:
                raise DataFormatError(f"{where}: field '{field}' {logged[:60]!r} is not row {sample.doc_id}'s "
                                      f"({expected[:60]!r}) in config {config.name}; these samples are not of this data")
        found.setdefault(item_id, Prediction(item_id, config.dataset, config.variant, sample.answer))
    return list(found.values())


def _model_label(config: ImportLmmsEvalConfig) -> str:
    if config.model:
        return config.model
    folders = {Path(p).resolve().parent.name for p in config.samples}
    return folders.pop() if len(folders) == 1 else ADAPTER_NAME


def _run_info(config: ImportLmmsEvalConfig, files: Sequence[ImportedFile], protocol: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model": _model_label(config),
        "adapter_name": ADAPTER_NAME,
        "data": str(Path(config.data).resolve()),
        "manifest_sha256": manifest_sha256(config.data),
        "params": {"protocol": protocol, "limit": None, "shard": str(Shard())},
    }
    path = run_info_path(config.out)
    if path.is_file():
        previous = read_run_info(config.out)
        for key in ("model", "adapter_name", "manifest_sha256"):
            if previous.get(key) != info[key]:
                raise DataFormatError(f"{path}: this run folder was made with {key}={previous.get(key)!r}, now "
                                      f"{info[key]!r}; use another `out` folder instead of mixing answers")
        earlier = [s for s in previous.get("samples", []) if s["config"] not in {f.config.name for f in files}]
    else:
        earlier = []
    info["samples"] = earlier + [{"file": str(f.path.resolve()), "sha256": sha256_file(f.path),
                                  "config": f.config.name} for f in files]
    return info


def run_import_lmms_eval(config: ImportLmmsEvalConfig) -> ImportOutcome:
    """Read and check every samples file first; write the run folder only when all are good."""
    if not config.samples:
        raise DataFormatError("`samples`: no files given (lmms-eval writes them with its `log_samples` option)")
    absent = [str(p) for p in config.samples if not Path(p).is_file()]
    if absent:
        raise MissingResourceError(f"{absent[0]}: no such samples file (lmms-eval writes them with its log_samples option)")
    configs = plan_configs(config.data)
    suffixes = [config_task_suffix(c) for c in configs]
    protocol = resolve_protocol(config.data, config.protocol).name
    imported: list[tuple[ImportedFile, list[Prediction]]] = []
    seen: dict[str, Path] = {}
    for path in map(Path, config.samples):
        target = configs[task_of_file(path, suffixes)]
        if target.name in seen:
            raise DataFormatError(f"{path}: config {target.name} is already imported from {seen[target.name]}")
        seen[target.name] = path
        predictions = _predictions(path, target, read_samples(path))
        imported.append((ImportedFile(path, target, len(predictions)), predictions))
    with folder_lock(Path(config.out), "import-lmms-eval", started_marker=RUN_INFO):
        info = _run_info(config, [f for f, _ in imported], protocol)
        for file, predictions in imported:
            write_predictions(predictions_file(config.out, file.config.dataset, file.config.variant), predictions)
        write_run_info(config.out, info)
        results = score_run(config.out, config.data, None, Shard(), info)
    return ImportOutcome(tuple(f for f, _ in imported), results)
