"""The image preprocessing a checkpoint was trained with, recorded beside its weights.

``robust-mllm train`` writes ``OUT/robust_mllm.json`` (``{"image_preprocessing": {"pad_to_square":
true}}``) so that the adapters evaluate a checkpoint the way it was trained: the trainer pads to a
square by default (the LLaVA-1.5 recipe). The record plays the part of the ``image_aspect_ratio``
a released checkpoint's config carries, which LLaVA's evaluation reads. An explicit
``--pad-to-square`` / ``--no-pad-to-square`` still wins; without either, the protocol decides
(``vittle`` pads, as the released evaluation; ``canonical`` leaves it to the adapter).
"""

from __future__ import annotations

from pathlib import Path

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import atomic_write_json, read_json

CHECKPOINT_INFO_FILE = "robust_mllm.json"


def save_image_preprocessing(folder: Path, pad_to_square: bool) -> None:
    atomic_write_json(Path(folder) / CHECKPOINT_INFO_FILE, {"image_preprocessing": {"pad_to_square": pad_to_square}})


def recorded_pad_to_square(folder: Path) -> bool | None:
    """What the checkpoint records (None: no record, e.g. a checkpoint not made by our trainer)."""
    path = Path(folder) / CHECKPOINT_INFO_FILE
    if not path.is_file():
        return None
    value = read_json(path).get("image_preprocessing", {}).get("pad_to_square")
    if not isinstance(value, bool):
        raise DataFormatError(f"{path}: field 'image_preprocessing.pad_to_square': expected true or false, got {value!r}")
    return value


def resolve_pad_to_square(folder: Path, requested: bool | None, adapter_default: bool) -> bool:
    """The explicit option, else the checkpoint's record, else the (protocol's) adapter default."""
    if requested is not None:
        return requested
    recorded = recorded_pad_to_square(folder)
    return adapter_default if recorded is None else recorded
