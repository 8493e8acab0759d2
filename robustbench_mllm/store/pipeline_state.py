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

PIPELINE_STATE = "pipeline.json"


def fingerprint(settings: dict[str, Any], files: Iterable[Path]) -> str:
    """sha256 over the settings and each file's path, size and modification time."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted({Path(p) for p in files}):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def tree_files(*roots: Path, pattern: str = "*") -> list[Path]:
    """Every file under ``roots`` matching ``pattern`` (recursively)."""
    return [p for root in roots if Path(root).is_dir() for p in Path(root).rglob(pattern) if p.is_file()]


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
