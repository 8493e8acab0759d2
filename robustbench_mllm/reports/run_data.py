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

from robustbench_mllm.errors import ConfigError, MissingResourceError
from robustbench_mllm.protocols import UNRECORDED_PROTOCOL
from robustbench_mllm.records import VariantSpec
from robustbench_mllm.store.predictions import predicted_datasets, read_answers
from robustbench_mllm.store.results import load_results
from robustbench_mllm.store.run_info import is_run_folder, read_run_info, recorded_data, run_protocol
from robustbench_mllm.store.variants import read_item_table


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
    data: Path | None  # the generated data the run was evaluated on
    datasets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dataset -> variants
    protocol: str = UNRECORDED_PROTOCOL  # the benchmark recipe it was evaluated under (run.json)

    def answers(self, dataset: str, variant: str) -> dict[str, str]:
        """``{item id: answer}``; empty when the run has no predictions for the variant."""
        return read_answers(self.path, dataset, variant)


def load_run(path: Path) -> Run:
    path = Path(path)
    if not is_run_folder(path):
        raise MissingResourceError(f"{path}: not a run folder (expected run.json, results.json, predictions/ "
                                   "from `robust-mllm evaluate`)")
    info = read_run_info(path)
    return Run(path=path, label=run_label(info, path), info=info, results=load_results(path),
               data=recorded_data(path, info), datasets=predicted_datasets(path), protocol=run_protocol(info))


def check_protocols(runs: list[Run], allow_mixed: bool) -> None:
    """Runs of different protocols measure different benchmarks: refuse one table over them
    unless the caller asks for it."""
    protocols = {run.protocol for run in runs}
    if len(protocols) > 1 and not allow_mixed:
        listed = ", ".join(f"{run.label} ({run.protocol})" for run in runs)
        raise ConfigError(f"runs of different protocols cannot share a table: {listed}; report each protocol "
                          "separately, or set `allow_mixed_protocols` to compare them anyway")


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


def variant_info(name: str, data: Path | None = None, dataset: str | None = None) -> VariantInfo:
    """Modality and severity of a variant: from the generated rows when at hand (they say it
    exactly), else parsed from the name with the registered text perturbations."""
    if data is not None and dataset is not None:
        rows = read_item_table(data, dataset, name)
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
