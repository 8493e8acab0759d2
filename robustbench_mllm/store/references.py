"""``GENERATED/references/``: reference answers generated for a suite (``robust-mllm references``).

- ``<dataset>.jsonl``: one ``{"id", "dataset", "model", "answer"}`` per item that got an answer,
  in the clean variant's item order, rewritten whole and atomically.
- ``summary.json``: per data set, the model, endpoint, request settings, counts and usage.
- ``cache.sqlite``: every reply as it comes (``llm/cache.py``), so an interrupted run resumes and
  a rerun sends nothing.

The judge reads them as Assistant 1 for the data sets the paper judges against GPT-4o answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import atomic_write_json, atomic_write_jsonl, read_json, read_jsonl, require_field
from robustbench_mllm.store.layout import references_file, references_summary_file


@dataclass(frozen=True)
class ReferenceAnswer:
    id: str
    dataset: str
    model: str
    answer: str


def write_references(data: Path, dataset: str, answers: Sequence[ReferenceAnswer], summary: dict[str, Any]) -> None:
    """The answers of one data set and its entry in ``summary.json`` (other data sets' kept)."""
    atomic_write_jsonl(references_file(data, dataset), (asdict(a) for a in answers))
    summary_path = references_summary_file(data)
    summaries = read_json(summary_path) if summary_path.is_file() else {}
    summaries[dataset] = summary
    atomic_write_json(summary_path, summaries)


def read_references(data: Path, dataset: str) -> dict[str, ReferenceAnswer] | None:
    """``{item id: answer}``, or None when none were generated for ``dataset``."""
    path = references_file(data, dataset)
    if not path.is_file():
        return None
    found: dict[str, ReferenceAnswer] = {}
    for number, record in enumerate(read_jsonl(path), start=1):
        where = f"{path}: line {number}"
        fields = {name: str(require_field(record, name, where)) for name in ("id", "dataset", "model", "answer")}
        found.setdefault(fields["id"], ReferenceAnswer(**fields))
    return found


def references_summary(data: Path) -> dict[str, Any]:
    path = references_summary_file(data)
    return read_json(path) if path.is_file() else {}
