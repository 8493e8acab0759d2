"""``RUN/judgments/<dataset>/<variant>.jsonl``: one ``Judgment`` per item and judge run, rewritten
whole and atomically per variant (the judge's response cache, ``judgments/cache.sqlite``, holds
the crash-safe state)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import atomic_write_jsonl, read_jsonl, require_field
from robustbench_mllm.records import Judgment
from robustbench_mllm.store.layout import judgments_file


def write_judgments(run_dir: Path, judgments: Sequence[Judgment]) -> None:
    groups: dict[tuple[str, str], list[Judgment]] = defaultdict(list)
    for judgment in judgments:
        groups[(judgment.dataset, judgment.variant)].append(judgment)
    for (dataset, variant), group in groups.items():
        atomic_write_jsonl(judgments_file(run_dir, dataset, variant), (j.to_dict() for j in group), ensure_ascii=True)


def judgments_of(run_dir: Path, dataset: str, variant: str) -> list[dict[str, Any]]:
    """The judge's per-item records (``RUN/judgments/<dataset>/<variant>.jsonl``) that parsed; failed
    judgments are excluded (the judge stage counts them), never scored."""
    path = judgments_file(run_dir, dataset, variant)
    if not path.is_file():
        return []
    scored = []
    for number, record in enumerate(read_jsonl(path, tolerate_torn_tail=True), start=1):
        for name in ("id", "run"):
            require_field(record, name, f"{path}: line {number}")
        if not record.get("failure") and None not in (record.get("model_score"), record.get("reference_score")):
            scored.append(record)
    return scored
