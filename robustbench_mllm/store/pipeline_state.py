"""``OUTPUT/pipeline.json``: what ``robust-mllm run`` last ran each fingerprinted stage on.

A stage whose inputs cannot be asked directly whether anything is left (emid, represent, the
report) is skipped when the fingerprint of its settings and input files equals the recorded one.
The file is written only when a fingerprint changes, so a rerun with nothing new writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import atomic_write_json, read_json
from robustbench_mllm.store.layout import JUDGMENTS_DIR, PREDICTIONS_DIR, RESULTS, RUN_INFO

PIPELINE_STATE = "pipeline.json"


def fingerprint(settings: dict[str, Any], files: Iterable[Path]) -> str:
    """sha256 over the settings and each file's path, size and modification time."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted({Path(p) for p in files}):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def run_files(run_dir: Path, *, judged: bool = True) -> list[Path]:
    """A run folder's inputs to a later stage: run.json, results.json, every predictions file and
    (``judged``) every judgments file; not the judge's response cache."""
    run_dir = Path(run_dir)
    folders = [run_dir / PREDICTIONS_DIR] + ([run_dir / JUDGMENTS_DIR] if judged else [])
    jsonl = [p for folder in folders if folder.is_dir() for p in folder.rglob("*.jsonl") if p.is_file()]
    return [run_dir / RUN_INFO, run_dir / RESULTS, *jsonl] if judged else jsonl


def read_state(output: Path) -> dict[str, str]:
    path = Path(output) / PIPELINE_STATE
    if not path.is_file():
        return {}
    state = read_json(path)
    if not isinstance(state, dict):
        raise DataFormatError(f"{path}: expected a JSON object; delete it to rerun every stage")
    return {str(k): str(v) for k, v in state.items()}


def record_state(output: Path, stage: str, value: str) -> None:
    state = read_state(output)
    if state.get(stage) != value:
        atomic_write_json(Path(output) / PIPELINE_STATE, {**state, stage: value})
