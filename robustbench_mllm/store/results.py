"""results.json: one versioned file per run; each command owns one top-level section."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from robustbench_mllm import __version__
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import atomic_write_json, read_json
from robustbench_mllm.store.layout import RESULTS

SCHEMA_VERSION = 1


def load_results(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION}
    data = read_json(path)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DataFormatError(f"{path}: schema_version {version!r}, this tool reads {SCHEMA_VERSION}")
    return data


def update_results(run_dir: Path, section: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Replace ``section`` (e.g. "evaluate", "judge", "emid") atomically, keeping the others."""
    data = load_results(run_dir)
    data[section] = payload
    data["tool_version"] = __version__
    data["updated"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(Path(run_dir) / RESULTS, data)
    return data
