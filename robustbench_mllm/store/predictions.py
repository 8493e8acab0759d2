"""``RUN/predictions/<dataset>/<variant>.jsonl``: the one writer and the one reader.

One ``Prediction`` per line, appended and fsynced after each batch, so a kill -9 loses at most a
torn last line; that line is cut off before anything new is appended, so the file stays valid
JSONL. ``evaluate`` never writes an id twice, but a file joined by hand might: the first line for
an id wins, everywhere (it is the answer ``evaluate`` kept when it resumed).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import append_jsonl, atomic_write_jsonl, read_jsonl, require_field
from robustbench_mllm.records import Prediction
from robustbench_mllm.store.layout import predictions_dir, predictions_file
from robustbench_mllm.store.variants import file_version, variant_order


def repair_torn_tail(path: Path) -> None:
    """Truncate ``path`` after its last newline (drops a partial final line, if any)."""
    if not path.is_file():
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return
        handle.truncate(data.rfind(b"\n") + 1)
        handle.flush()
        os.fsync(handle.fileno())


def read_predictions(path: Path) -> dict[str, Prediction]:
    """Predictions by id; empty when the file is absent. The first line for an id wins."""
    found: dict[str, Prediction] = {}
    if not path.is_file():
        return found
    for number, row in enumerate(read_jsonl(path, tolerate_torn_tail=True), start=1):
        where = f"{path}: line {number}"
        item_id = str(require_field(row, "id", where))
        answer = require_field(row, "answer", where)
        if not isinstance(answer, str):
            raise DataFormatError(f"{where}: field 'answer' must be a string")
        if item_id not in found:
            found[item_id] = Prediction(
                id=item_id,
                dataset=str(require_field(row, "dataset", where)),
                variant=str(require_field(row, "variant", where)),
                answer=answer,
            )
    return found


def read_answers(run_dir: Path, dataset: str, variant: str) -> dict[str, str]:
    """``{item id: answer}`` of one variant (empty when it has no predictions), cached per file
    version: the report asks for the same variant many times."""
    path = predictions_file(run_dir, dataset, variant)
    return dict(_cached_answers(path, *file_version(path)))


@functools.lru_cache(maxsize=256)
def _cached_answers(path: Path, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    return tuple((item_id, p.answer) for item_id, p in read_predictions(path).items()) if size >= 0 else ()


def append_predictions(path: Path, predictions: Iterable[Prediction]) -> None:
    repair_torn_tail(path)
    append_jsonl(path, (p.to_dict() for p in predictions))


def write_predictions(path: Path, predictions: Iterable[Prediction]) -> None:
    """Write a whole prediction file atomically (``merge``)."""
    atomic_write_jsonl(path, (p.to_dict() for p in predictions))


def predicted_variants(run_dir: Path) -> list[tuple[str, str]]:
    """Every (dataset, variant) with a prediction file in the run, sorted."""
    root = predictions_dir(run_dir)
    if not root.is_dir():
        return []
    return sorted((f.parent.name, f.stem) for f in root.glob("*/*.jsonl"))


def predicted_datasets(run_dir: Path) -> dict[str, tuple[str, ...]]:
    """``{dataset: variants}`` with a prediction file, ``clean`` first, then alphabetical."""
    found: dict[str, list[str]] = {}
    for dataset, variant in predicted_variants(run_dir):
        found.setdefault(dataset, []).append(variant)
    return {d: tuple(sorted(vs, key=variant_order)) for d, vs in found.items()}


def has_predictions(run_dir: Path) -> bool:
    return predictions_dir(run_dir).is_dir()
