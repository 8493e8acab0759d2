"""Task functions for the exported lmms-eval tasks (copied next to the YAML files as ``utils.py``).

lmms-eval calls these per document of a published config. Yes/no answers are scored with
robust-mllm's own LLaVA answer rule (``robustbench_mllm.metrics.pope``), so numbers agree with
``robust-mllm evaluate`` (lmms-eval's stock POPE exact-match marks "Yes." wrong). Open-ended
answers are only collected here: score them with ``robust-mllm judge``.
"""

from __future__ import annotations

from typing import Any


def doc_to_visual(doc: dict[str, Any]) -> list[Any]:
    return [doc["image"].convert("RGB")]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


def yes_no_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    from robustbench_mllm.metrics.pope import parse_yes_no

    said = parse_yes_no(results[0].strip(), "llava")
    truth = str(doc["label"]).strip().lower()
    return {"accuracy": float(said == truth),
            "f1": {"id": doc["id"], "split": doc["split"], "said": said, "truth": truth}}


def f1_aggregate(records: list[dict[str, Any]]) -> float:
    """Mean over splits of 2TP / (2TP + FP + FN), as the paper averages POPE's splits."""
    per_split: dict[str, list[int]] = {}
    for record in records:
        counts = per_split.setdefault(record["split"], [0, 0])
        counts[0] += 2 * (record["said"] == record["truth"] == "yes")
        counts[1] += 2 * (record["said"] == record["truth"] == "yes") + (record["said"] != record["truth"])
    scores = [num / den for num, den in per_split.values() if den]
    return sum(scores) / len(scores) if scores else 0.0


def open_ended_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    return {"answered": float(bool(results[0].strip()))}
