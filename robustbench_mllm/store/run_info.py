"""``RUN/run.json``: what a run folder was made from (model, adapter, data folder, manifest hash,
parameters, protocol). Written by ``evaluate`` and ``merge``; every later stage finds the generated
data through its one ``data`` key, and the protocol the answers were made under through
``run_protocol``.

Keys: ``model``, ``adapter_name``, ``adapter`` (the adapter's ``describe()``: prompt template,
padding, ...), ``data``, ``manifest_sha256``, ``params`` (what a resumed run must repeat, with
the protocol's name), ``protocol`` (``Protocol.record()``: name, version and every setting; absent
in files written before protocols were versioned)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.io_utils import atomic_write_json, read_json
from robustbench_mllm.protocols import UNRECORDED_PROTOCOL
from robustbench_mllm.store.layout import RESULTS, RUN_INFO
from robustbench_mllm.store.predictions import has_predictions

DATA_KEY = "data"
PROTOCOL_KEY = "protocol"


def run_info_path(run_dir: Path) -> Path:
    return Path(run_dir) / RUN_INFO


def has_run_info(run_dir: Path) -> bool:
    return run_info_path(run_dir).is_file()


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """run.json's content; ``{}`` when the folder has none."""
    path = run_info_path(run_dir)
    if not path.is_file():
        return {}
    info = read_json(path)
    if not isinstance(info, dict):
        raise DataFormatError(f"{path}: expected a JSON object")
    return info


def require_run_info(run_dir: Path) -> dict[str, Any]:
    """run.json's content, or an error saying the folder is not a run folder."""
    path = run_info_path(run_dir)
    if not path.is_file():
        raise MissingResourceError(f"{path}: missing; is {run_dir} a `robust-mllm evaluate` run folder?")
    return read_run_info(run_dir)


def run_protocol(info: dict[str, Any]) -> str:
    """The name of the protocol a run's answers were made under (old files: ``canonical``)."""
    recorded = info.get(PROTOCOL_KEY)
    if isinstance(recorded, dict) and recorded.get("name"):
        return str(recorded["name"])
    return str((info.get("params") or {}).get("protocol") or UNRECORDED_PROTOCOL)


def write_run_info(run_dir: Path, info: dict[str, Any]) -> None:
    atomic_write_json(run_info_path(run_dir), info)


def recorded_data(run_dir: Path, info: dict[str, Any]) -> Path | None:
    """The generated data folder ``info`` names (relative paths are relative to the run)."""
    value = info.get(DATA_KEY)
    if not isinstance(value, str) or not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else (Path(run_dir) / path).resolve()


def data_folder(run_dir: Path, data: Path | None = None) -> Path:
    """``data`` when given, else the generated data folder the run's run.json records."""
    if not Path(run_dir).is_dir():
        raise MissingResourceError(f"{run_dir}: no such run folder (make it with `robust-mllm evaluate`)")
    if data is not None:
        return Path(data)
    path = run_info_path(run_dir)
    if not path.is_file():
        raise MissingResourceError(f"{path}: missing (is {run_dir} a `robust-mllm evaluate` run folder?); "
                                   "or give the generated folder as `data`")
    found = recorded_data(run_dir, read_run_info(run_dir))
    if found is None:
        raise DataFormatError(f"{path}: no {DATA_KEY!r} field; give the generated folder as `data`")
    return found


def is_run_folder(run_dir: Path) -> bool:
    """A folder ``evaluate`` (or ``merge``) wrote into: run.json, results.json or predictions/."""
    run_dir = Path(run_dir)
    return run_dir.is_dir() and (has_run_info(run_dir) or (run_dir / RESULTS).exists() or has_predictions(run_dir))

