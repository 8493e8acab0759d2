"""``RUN/hidden_states/layer<L>/<dataset>/<variant>.safetensors`` and ``RUN/represent.json``.

Each file holds tensor ``states`` (one row per item, float32) and the item ids in its metadata,
written atomically per variant. ``represent.json`` pins the model and data the states came from,
so states of another model are never mixed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import atomic_write_bytes, atomic_write_json, read_json

IDENTITY_FILE = "represent.json"


@dataclass(frozen=True)
class StoredStates:
    ids: tuple[str, ...]
    states: np.ndarray  # (n, hidden) float32


def states_file(out: Path, layer: int, dataset: str, variant: str) -> Path:
    return Path(out) / "hidden_states" / f"layer{layer}" / dataset / f"{variant}.safetensors"


def save_states(path: Path, stored: StoredStates) -> None:
    from safetensors.numpy import save

    payload = save({"states": np.ascontiguousarray(stored.states, dtype=np.float32)},
                   metadata={"ids": json.dumps(list(stored.ids))})
    atomic_write_bytes(path, payload)


def load_states(path: Path) -> StoredStates:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        metadata = handle.metadata() or {}
        if "ids" not in metadata:
            raise DataFormatError(f"{path}: metadata field 'ids' missing")
        states = handle.get_tensor("states")
    ids = tuple(json.loads(metadata["ids"]))
    if len(ids) != len(states):
        raise DataFormatError(f"{path}: {len(ids)} ids for {len(states)} rows")
    return StoredStates(ids, states)


def pin_states(run_dir: Path, identity: dict[str, Any]) -> None:
    """Record ``identity`` in ``represent.json``; refuse when the folder holds states made with
    another one."""
    path = Path(run_dir) / IDENTITY_FILE
    if path.is_file():
        previous = read_json(path)
        for key, value in identity.items():
            if previous.get(key) != value:
                raise DataFormatError(f"{path}: states here were made with {key}={previous.get(key)!r}, "
                                      f"now {value!r}; use another `out` folder")
    atomic_write_json(path, identity)
