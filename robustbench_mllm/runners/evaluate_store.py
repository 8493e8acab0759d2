"""Append-only prediction files that survive kill -9, and deterministic sharding of items.

``RUN/predictions/<dataset>/<variant>.jsonl`` holds one ``Prediction`` per line. On resume the
finished ids are read back; a torn last line (a write cut short by a crash) is cut off before
anything new is appended, so the file stays valid JSONL and no item is ever written twice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.io_utils import append_jsonl, read_jsonl, require_field
from robustbench_mllm.records import Item, Prediction
from robustbench_mllm.seeding import stable_seed


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
    """Predictions by id (the first line wins should a file hold an id twice)."""
    found: dict[str, Prediction] = {}
    if not path.is_file():
        return found
    for number, row in enumerate(read_jsonl(path, tolerate_torn_tail=True), start=1):
        where = f"{path}: line {number}"
        item_id = str(require_field(row, "id", where))
        if item_id not in found:
            found[item_id] = Prediction(
                id=item_id,
                dataset=str(require_field(row, "dataset", where)),
                variant=str(require_field(row, "variant", where)),
                answer=str(require_field(row, "answer", where)),
            )
    return found


def append_predictions(path: Path, predictions: Sequence[Prediction]) -> None:
    repair_torn_tail(path)
    append_jsonl(path, (p.to_dict() for p in predictions))


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): an item belongs to it when a stable hash of its id
    is ``index`` modulo ``count``, so every machine computes the same split."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        if not text:
            return cls()
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"--shard {text!r}: need 0 <= i < n (shards are numbered from 0)")
        return cls(index, count)

    def selects(self, item: Item) -> bool:
        return self.count == 1 or stable_seed("shard", item.id) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
