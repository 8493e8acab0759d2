"""Score a run folder's predictions against the generated data; write results.json; print a table.

Shared by ``evaluate`` and ``merge``. Every ``RUN/predictions/<dataset>/<variant>.jsonl`` whose
variant exists in the data is scored, so the results cover all invocations that filled the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustbench_mllm.protocols import get_protocol
from robustbench_mllm.runners.evaluate.scoring import score_variant, task_of
from robustbench_mllm.runners.evaluate.shard import Shard, select_items
from robustbench_mllm.store.layout import variant_file
from robustbench_mllm.store.manifest import generation_record
from robustbench_mllm.store.predictions import predicted_variants, read_answers
from robustbench_mllm.store.results import update_results
from robustbench_mllm.store.run_info import run_protocol
from robustbench_mllm.store.variants import read_labelled_items

SECTION = "evaluate"


def score_run(
    run_dir: Path, data: Path, limit: int | None, shard: Shard, info: dict[str, Any]
) -> dict[str, Any]:
    """Metrics per dataset per variant under the run's protocol (``info``, the run.json content),
    written to results.json section ``evaluate`` with that protocol's record."""
    protocol = get_protocol(run_protocol(info))
    datasets: dict[str, dict[str, Any]] = {}
    for dataset, variant in predicted_variants(run_dir):
        if not variant_file(data, dataset, variant).is_file():
            continue  # a variant of other data; run.json pins the manifest, so this is stale output
        items = read_labelled_items(data, dataset, variant)
        items = list(select_items(items, limit, shard))
        answers = read_answers(run_dir, dataset, variant)
        task = task_of(items, f"{data}/{dataset}/{variant}")
        datasets.setdefault(dataset, {})[variant] = score_variant(items, answers, task, protocol)
    payload = {"run": info, "generation": generation_record(data), "datasets": datasets}
    return update_results(run_dir, SECTION, payload, protocol)[SECTION]
