"""Task functions of the exported lmms-eval tasks, called by lmms-eval per document of a config.

``export-lmms-eval`` writes this module, together with the code it imports from robust-mllm
(``publish.standalone``), into the exported ``utils.py``, which therefore runs in a plain
lmms-eval environment and scores exactly as ``robust-mllm evaluate`` does:

- yes/no answers with the LLaVA answer rule of ``metrics.pope`` (lmms-eval's stock POPE exact
  match marks "Yes." wrong), the metrics averaged over POPE's splits as the protocol says
  (``vittle``: pooled counts, as the released eval_pope.py; ``canonical``: mean of the splits);
- multiple-choice answers with ``metrics.closed_form``, read by the protocol's parser;
- open-ended answers are only collected (``answered``): import lmms-eval's logged samples with
  ``robust-mllm import-lmms-eval`` and score them with ``robust-mllm judge``.

The prompt is the one ``evaluate`` sends (``prompts.prompt_for``): the question, with the
protocol's suffix as the task's ``post_prompt`` (yes/no: the POPE suffix; multiple choice: the
options, then the answer-with-the-letter instruction).
"""

from __future__ import annotations

from typing import Any

from robustbench_mllm.metrics.closed_form import multiple_choice_report
from robustbench_mllm.metrics.pope import yes_no_report
from robustbench_mllm.prompts import multiple_choice_prompt

YES_NO_METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")
# the protocol's choices, as evaluate applies them; ``export`` writes the exported data's values
SPLIT_AVERAGE = "pooled"  # Protocol.pope_average: the entry of ``yes_no_report`` the headline shows
CHOICE_PARSER = "scienceqa"  # Protocol.choice_parser


def doc_to_visual(doc: dict[str, Any]) -> list[Any]:
    return [doc["image"].convert("RGB")]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['question']}{kwargs.get('post_prompt', '')}"


def choice_doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    """The question, its options and, last, the ``post_prompt`` (the answer instruction)."""
    kwargs = lmms_eval_specific_kwargs or {}
    body = multiple_choice_prompt(doc["question"], list(doc.get("choices") or ()), kwargs.get("post_prompt", ""))
    return f"{kwargs.get('pre_prompt', '')}{body}"


def yes_no_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """One record per metric; the aggregations score the records of the whole config at once
    (precision, recall and F1 are not means of per-document values)."""
    record = {"id": doc["id"], "split": doc["split"], "label": doc["label"], "answer": results[0]}
    return {name: record for name in YES_NO_METRICS}


def _yes_no(records: list[dict[str, Any]], metric: str) -> float:
    report = yes_no_report([(r["split"], r["label"], r["answer"]) for r in records], "llava")
    return float(report[SPLIT_AVERAGE][metric]) if report else 0.0


def accuracy_aggregate(records: list[dict[str, Any]]) -> float:
    return _yes_no(records, "accuracy")


def precision_aggregate(records: list[dict[str, Any]]) -> float:
    return _yes_no(records, "precision")


def recall_aggregate(records: list[dict[str, Any]]) -> float:
    return _yes_no(records, "recall")


def f1_aggregate(records: list[dict[str, Any]]) -> float:
    return _yes_no(records, "f1")


def yes_ratio_aggregate(records: list[dict[str, Any]]) -> float:
    return _yes_no(records, "yes_ratio")


def choice_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    return {"choice_accuracy": {"id": doc["id"], "label": doc["label"], "answer": results[0],
                                "choices": list(doc.get("choices") or ())}}


def choice_accuracy_aggregate(records: list[dict[str, Any]]) -> float:
    rows = ((r["label"], r["answer"], r["choices"]) for r in records)
    return float(multiple_choice_report(rows, CHOICE_PARSER)["accuracy"])


def open_ended_process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    return {"answered": float(bool(results[0].strip()))}
