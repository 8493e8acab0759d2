"""The merge stage (``robust-mllm merge``): join the run folders of sharded evaluations into one run.

The shards must agree on model, adapter, data (manifest hash) and every parameter but the shard.
Predictions are unioned per variant and deduplicated by item id (the first run listed wins; answers
that disagree are counted in the report), then the merged run is scored like an unsharded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import ConfigError, DataFormatError
from robustbench_mllm.records import Prediction
from robustbench_mllm.runners.evaluate.report import score_run
from robustbench_mllm.runners.evaluate.shard import Shard
from robustbench_mllm.store.layout import predictions_file
from robustbench_mllm.store.predictions import predicted_variants, read_predictions, write_predictions
from robustbench_mllm.store.run_info import require_run_info, run_info_path, write_run_info

_MUST_AGREE = ("model", "adapter_name", "manifest_sha256", "data", "protocol")


@dataclass(frozen=True)
class MergeOutcome:
    predictions: int
    duplicates: int
    conflicts: int
    results: dict[str, Any]


def _merged_info(run_dirs: Sequence[Path]) -> dict[str, Any]:
    infos = [(run_info_path(run), require_run_info(run)) for run in run_dirs]
    first_path, first = infos[0]
    base_params = {k: v for k, v in first["params"].items() if k != "shard"}
    for path, info in infos[1:]:
        params = {k: v for k, v in info["params"].items() if k != "shard"}
        for key in _MUST_AGREE:
            if info.get(key) != first.get(key):
                raise DataFormatError(
                    f"{path}: {key}={info.get(key)!r} differs from {first_path}: {first.get(key)!r}"
                )
        if params != base_params:
            raise DataFormatError(f"{path}: parameters {params} differ from {first_path}: {base_params}")
    merged = dict(first)
    merged["params"] = {**base_params, "shard": str(Shard())}
    merged["merged_from"] = [
        {"run": str(Path(run).resolve()), "shard": info["params"]["shard"]}
        for run, (_, info) in zip(run_dirs, infos)
    ]
    return merged


def merge_runs(run_dirs: Sequence[Path], out: Path) -> MergeOutcome:
    if not run_dirs:
        raise ConfigError("merge needs at least one run folder")
    out = Path(out)
    if any(Path(r).resolve() == out.resolve() for r in run_dirs):
        raise ConfigError(f"`out` {out} is one of the inputs; merge into a new folder")
    info = _merged_info(run_dirs)
    variants = sorted({key for run in run_dirs for key in predicted_variants(run)})
    total = duplicates = conflicts = 0
    for dataset, variant in variants:
        merged: dict[str, Prediction] = {}
        for run in run_dirs:
            for item_id, prediction in read_predictions(predictions_file(run, dataset, variant)).items():
                if item_id in merged:
                    duplicates += 1
                    conflicts += merged[item_id].answer != prediction.answer
                    continue
                merged[item_id] = prediction
        write_predictions(predictions_file(out, dataset, variant), merged.values())
        total += len(merged)
    write_run_info(out, info)
    results = score_run(out, Path(info["data"]), info["params"]["limit"], Shard(), info)
    return MergeOutcome(total, duplicates, conflicts, results)
