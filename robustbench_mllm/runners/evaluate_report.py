"""Score a run folder's predictions against the generated data; write results.json; print a table.

Shared by ``evaluate`` and ``merge``. Every ``RUN/predictions/<dataset>/<variant>.jsonl`` whose
variant exists in the data is scored, so the results cover all invocations that filled the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustbench_mllm.layout import predictions_file, variant_file
from robustbench_mllm.records import Item
from robustbench_mllm.results import update_results
from robustbench_mllm.runners.evaluate_scoring import headline, score_variant, task_of
from robustbench_mllm.runners.evaluate_store import Shard, read_predictions

SECTION = "evaluate"
_LABEL_COLUMNS = ("id", "dataset", "split", "question", "label", "choices", "image_id")


def read_labelled_items(data: Path, dataset: str, variant: str) -> list[Item]:
    """The items of a variant without their images (scoring needs labels only)."""
    import pyarrow.parquet as pq

    rows = pq.read_table(str(variant_file(data, dataset, variant)), columns=list(_LABEL_COLUMNS)).to_pylist()
    return [
        Item(id=r["id"], dataset=r["dataset"], split=r["split"], question=r["question"], image=None,
             image_id=r["image_id"], label=r["label"], choices=tuple(r["choices"] or ()))
        for r in rows
    ]


def predicted_variants(run_dir: Path) -> list[tuple[str, str]]:
    root = Path(run_dir) / "predictions"
    if not root.is_dir():
        return []
    return sorted((f.parent.name, f.stem) for f in root.glob("*/*.jsonl"))


def score_run(
    run_dir: Path, data: Path, limit: int | None, shard: Shard, info: dict[str, Any]
) -> dict[str, Any]:
    """Metrics per dataset per variant, written to results.json section ``evaluate``."""
    datasets: dict[str, dict[str, Any]] = {}
    for dataset, variant in predicted_variants(run_dir):
        if not variant_file(data, dataset, variant).is_file():
            continue  # a variant of other data; run.json pins the manifest, so this is stale output
        items = read_labelled_items(data, dataset, variant)
        items = [i for i in (items[:limit] if limit is not None else items) if shard.selects(i)]
        answers = {k: p.answer for k, p in read_predictions(predictions_file(run_dir, dataset, variant)).items()}
        task = task_of(items, f"{data}/{dataset}/{variant}")
        datasets.setdefault(dataset, {})[variant] = score_variant(items, answers, task)
    payload = {"run": info, "datasets": datasets}
    update_results(run_dir, SECTION, payload)
    return payload


def summary_table(payload: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="evaluate")
    for column in ("dataset", "variant", "task", "answered", "result"):
        table.add_column(column)
    for dataset, variants in payload["datasets"].items():
        for variant, summary in variants.items():
            answered = f"{summary['answered']}/{summary['items']}"
            table.add_row(dataset, variant, summary["task"], answered, headline(summary))
    return table
