"""results.json: one versioned file per run; each command owns one top-level section.

Top level: ``schema_version``, ``tool_version``, ``updated`` and one object per command
(``evaluate``, ``judge``, ``emid``, ``represent``). A section written under a protocol carries it
as ``<section>.protocol`` (``Protocol.record()``: name, version and every setting), so numbers
from two runs are comparable when name and version agree. Sections written before protocols
were recorded have no such key: ``section_protocol`` reads them as ``canonical`` (what v0.1 did).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from robustbench_mllm import __version__
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import atomic_write_json, read_json
from robustbench_mllm.protocols import UNRECORDED_PROTOCOL, Protocol
from robustbench_mllm.store.layout import RESULTS

SCHEMA_VERSION = 1
PROTOCOL_KEY = "protocol"


def load_results(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION}
    data = read_json(path)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DataFormatError(f"{path}: schema_version {version!r}, this tool reads {SCHEMA_VERSION}")
    return data


def update_results(
    run_dir: Path, section: str, payload: dict[str, Any], protocol: Protocol | None = None
) -> dict[str, Any]:
    """Replace ``section`` (e.g. "evaluate", "judge", "emid") atomically, keeping the others;
    ``protocol``, when given, is recorded in the section."""
    data = load_results(run_dir)
    data[section] = {**payload, PROTOCOL_KEY: protocol.record()} if protocol is not None else payload
    data["tool_version"] = __version__
    data["updated"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    atomic_write_json(Path(run_dir) / RESULTS, data)
    return data


def section_protocol(results: dict[str, Any], section: str) -> str:
    """The name of the protocol ``section`` was scored under (unrecorded: ``canonical``)."""
    recorded = (results.get(section) or {}).get(PROTOCOL_KEY)
    if isinstance(recorded, dict) and recorded.get("name"):
        return str(recorded["name"])
    return UNRECORDED_PROTOCOL
