"""Yes/no scoring (POPE, MME): answer parsing and the confusion-table metrics per split.

Two answer rules:

- ``llava`` (default, comparable with published numbers): the text before the first '.', commas
  dropped, split on spaces; the answer is "no" when a word is ``No``, ``not`` or ``no``, else "yes".
  Every answer parses, so "NO" and "I cannot tell" count as yes.
- ``strict``: the first word, lower-cased and stripped of punctuation, must be ``yes`` or ``no``;
  anything else is unparseable. Unparseable answers stay out of TP/FP/TN/FN, count as wrong in
  accuracy, and are reported as ``unparseable``.

Metrics are fractions in [0, 1]; ``yes_ratio`` is the share of parsed answers that say yes.

Two averages over splits, both reported:

- ``pooled`` (the released ``eval_pope.py``, hence the paper's numbers): TP/FP/TN/FN summed over
  the splits (the script sums count/3; no ratio changes), then every metric from the summed
  counts. Accuracy is then the mean of the split accuracies whenever the splits have the same
  size, as POPE's three do; precision, recall and F1 are micro averages.
- ``per_split``: the unweighted mean of each split's metrics (robust-mllm 0.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Literal

from robustbench_mllm.errors import ConfigError, DataFormatError

AnswerRule = Literal["llava", "strict"]
METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "yes_ratio")
AVERAGES = ("pooled", "per_split")  # the report's keys beside the split names


def parse_llava(answer: str) -> str:
    head = answer.split(".")[0].replace(",", "")
    words = head.split(" ")
    return "no" if any(w in ("No", "not", "no") for w in words) else "yes"


def parse_strict(answer: str) -> str | None:
    words = answer.strip().split()
    if not words:
        return None
    first = re.sub(r"[^a-z]", "", words[0].lower())
    return first if first in ("yes", "no") else None


def parse_yes_no(answer: str, rule: AnswerRule = "llava") -> str | None:
    if rule == "llava":
        return parse_llava(answer)
    if rule == "strict":
        return parse_strict(answer)
    raise ConfigError(f"unknown answer rule {rule!r}: expected 'llava' or 'strict'")


@dataclass(frozen=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    unparseable: int = 0

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn + self.unparseable

    def metrics(self) -> dict[str, float | int]:
        parsed = self.tp + self.fp + self.tn + self.fn
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn,
            "unparseable": self.unparseable, "n": self.total,
            "accuracy": (self.tp + self.tn) / self.total if self.total else 0.0,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "yes_ratio": (self.tp + self.fp) / parsed if parsed else 0.0,
        }


def confusion(pairs: Iterable[tuple[str, str]], rule: AnswerRule = "llava") -> Confusion:
    """The table for (label, answer) pairs; labels are "yes"/"no" (case-insensitive)."""
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0, "unparseable": 0}
    for label, answer in pairs:
        truth = label.strip().lower()
        if truth not in ("yes", "no"):
            raise DataFormatError(f"yes/no label expected, got {label!r}")
        said = parse_yes_no(answer, rule)
        if said is None:
            counts["unparseable"] += 1
        elif said == "yes":
            counts["tp" if truth == "yes" else "fp"] += 1
        else:
            counts["fn" if truth == "yes" else "tn"] += 1
    return Confusion(**counts)


def pooled(tables: Iterable[Confusion]) -> Confusion:
    """One table of the counts summed over ``tables``."""
    tables = list(tables)
    return Confusion(**{f.name: sum(getattr(t, f.name) for t in tables) for f in fields(Confusion)})


def yes_no_report(
    rows: Iterable[tuple[str, str, str]], rule: AnswerRule = "llava"
) -> dict[str, dict[str, float | int]]:
    """Metrics per split for (split, label, answer) rows, plus the ``pooled`` and ``per_split``
    averages over the splits (see the module docstring)."""
    by_split: dict[str, list[tuple[str, str]]] = {}
    for split, label, answer in rows:
        by_split.setdefault(split or "all", []).append((label, answer))
    tables = {split: confusion(pairs, rule) for split, pairs in sorted(by_split.items())}
    clash = set(tables) & set(AVERAGES)
    if clash:
        raise DataFormatError(f"split name {sorted(clash)[0]!r} is reserved for an average over splits")
    report = {split: table.metrics() for split, table in tables.items()}
    if report:
        report["pooled"] = pooled(tables.values()).metrics()
        report["per_split"] = mean_over_splits([report[split] for split in tables])
    return report


def mean_over_splits(splits: list[Mapping[str, float | int]]) -> dict[str, float | int]:
    mean: dict[str, float | int] = {k: sum(m[k] for m in splits) / len(splits) for k in METRIC_NAMES}
    mean["unparseable"] = sum(int(m["unparseable"]) for m in splits)
    mean["n"] = sum(int(m["n"]) for m in splits)
    return mean
