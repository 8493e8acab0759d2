"""What kind of task a variant is, and its judge-free metrics under a protocol.

The task follows from the labels: all "yes"/"no" -> ``yes_no`` (POPE, MME); all single option
letters -> ``multiple_choice`` (ScienceQA, MMMU, MMStar); all empty -> ``open_ended`` (LB-COCO,
scored later by the judge). Yes/no variants carry both averages over splits (``pooled``,
``per_split``) and name the protocol's in ``average``; multiple-choice answers are read with the
protocol's parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.metrics.closed_form import multiple_choice_report
from robustbench_mllm.metrics.pope import yes_no_report
from robustbench_mllm.protocols import Protocol
from robustbench_mllm.records import Item, Task


def task_of(items: Sequence[Item], where: str) -> Task:
    labels = {item.label.strip() for item in items}
    if not labels or labels == {""}:
        return "open_ended"
    if {label.lower() for label in labels} <= {"yes", "no"}:
        return "yes_no"
    if all(len(label) == 1 and label.isalpha() for label in labels):
        return "multiple_choice"
    odd = sorted(labels)[:5]
    raise DataFormatError(
        f"{where}: labels mix task types ({odd}); expected all yes/no, all option letters, or all empty"
    )


def score_variant(
    items: Sequence[Item], answers: Mapping[str, str], task: Task, protocol: Protocol
) -> dict[str, Any]:
    """Metrics over the items that have an answer; ``complete`` says whether all of them do."""
    answered = [item for item in items if item.id in answers]
    summary: dict[str, Any] = {
        "task": task, "items": len(items), "answered": len(answered),
        "complete": len(answered) == len(items),
    }
    if task == "yes_no":
        rows = [(item.split, item.label, answers[item.id]) for item in answered]
        summary["average"] = protocol.pope_average
        summary["metrics"] = {"llava": yes_no_report(rows, "llava"), "strict": yes_no_report(rows, "strict")}
    elif task == "multiple_choice":
        summary["parser"] = protocol.choice_parser
        summary["metrics"] = multiple_choice_report(
            ((item.label, answers[item.id], item.choices) for item in answered), protocol.choice_parser
        )
    else:
        summary["metrics"] = {"empty_answers": sum(not answers[item.id].strip() for item in answered)}
    return summary


def headline(summary: Mapping[str, Any]) -> str:
    """One number for the summary table."""
    metrics = summary["metrics"]
    if summary["task"] == "yes_no":
        average = summary["average"]
        mean = metrics["llava"].get(average)
        return f"acc {mean['accuracy']:.4f}  F1 {mean['f1']:.4f} ({average})" if mean else "-"
    if summary["task"] == "multiple_choice":
        return f"acc {metrics['accuracy']:.4f}"
    return f"{summary['answered']} answers (judge scores them)"
