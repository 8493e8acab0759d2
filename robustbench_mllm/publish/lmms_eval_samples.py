"""Read lmms-eval's logged samples (``lmms-eval ... --log_samples``) of the exported tasks.

lmms-eval 0.7 writes one file per task, ``<output_path>/<model>/<date>_samples_<task>.jsonl``, one
JSON object per document (``EvaluationTracker.save_results_samples``): ``doc_id`` (the row's index
in the config's ``test`` split), ``target`` (``str(doc_to_target(doc))``), ``filtered_resps`` (the
answer lmms-eval scored: a string, or a list when a document had several requests), ``resps``
(raw answers, dropped when equal to ``filtered_resps``), ``input`` (the prompt), hashes, token
counts and the task's metric values. Versions before 0.7 also logged the document as ``doc``; when
present its ``id`` is checked against the row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_jsonl, require_field


@dataclass(frozen=True)
class Sample:
    line: int
    doc_id: int
    answer: str
    target: str | None  # None: not logged
    doc_item_id: str | None  # the logged document's ``id`` (older lmms-eval only)


def _first_text(value: Any, where: str) -> str:
    """The scored answer: lmms-eval flattens one request's responses to a string; anything still
    nested (several requests or repeats) holds the first response first."""
    while isinstance(value, list):
        if not value:
            raise DataFormatError(f"{where}: field 'filtered_resps' is an empty list (no answer logged)")
        value = value[0]
    if not isinstance(value, str):
        raise DataFormatError(f"{where}: field 'filtered_resps' must hold a string, got {type(value).__name__}")
    return value


def read_samples(path: Path) -> list[Sample]:
    samples = []
    for number, row in enumerate(read_jsonl(path), start=1):
        where = f"{path}: line {number}"
        doc_id = require_field(row, "doc_id", where)
        if not isinstance(doc_id, int) or isinstance(doc_id, bool) or doc_id < 0:
            raise DataFormatError(f"{where}: field 'doc_id' must be a non-negative integer, got {doc_id!r}")
        responses = row["filtered_resps"] if "filtered_resps" in row else require_field(row, "resps", where)
        doc = row.get("doc")
        doc_item_id = str(doc["id"]) if isinstance(doc, dict) and "id" in doc else None
        target = row.get("target")
        # lmms-eval strips answers before scoring them, as evaluate's adapters do
        samples.append(Sample(number, doc_id, _first_text(responses, where).strip(),
                              None if target is None else str(target), doc_item_id))
    if not samples:
        raise DataFormatError(f"{path}: no samples (is this a samples file lmms-eval logged with its `log_samples` option?)")
    return samples


def task_of_file(path: Path, suffixes: Sequence[str]) -> int:
    """Which of the task-name ``suffixes`` the file's name ends its task name with (lmms-eval
    names the file after the task, with a date before or after it): the index of the longest
    suffix found as a whole ``_``-separated part of the name."""
    found = [i for i, suffix in enumerate(suffixes) if re.search(rf"(^|_){re.escape(suffix)}(_|$)", path.stem)]
    longest = max((len(suffixes[i]) for i in found), default=0)
    best = [i for i in found if len(suffixes[i]) == longest]
    if len(best) != 1:
        what = "names no" if not best else f"matches several ({', '.join(suffixes[i] for i in best)})"
        raise DataFormatError(f"{path}: the file name {what} exported task of this data "
                              f"(expected lmms-eval's '<date>_samples_<task>.jsonl')")
    return best[0]
