"""Per-item scores of one run on one variant, as (numerator, denominator) pairs per metric.

They feed the image-clustered bootstrap (see ``bootstrap``): POPE accuracy and F1 come from the
predictions and the generated labels through the evaluate stage's own answer rule, relative
preference from the judge's per-item scores (failed judgments excluded, never averaged in), and
closed-form accuracy from the evaluate stage's exact-match rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robustbench_mllm.reports.run_data import Run
from robustbench_mllm.store.judgments import judgments_of
from robustbench_mllm.store.variants import read_item_table

YES_NO = frozenset({"yes", "no"})


@dataclass(frozen=True)
class MetricSpec:
    key: str
    title: str
    scale: float


POPE_ACCURACY = MetricSpec("pope_accuracy", "POPE accuracy", 100.0)
POPE_F1 = MetricSpec("pope_f1", "POPE F1", 100.0)
RELATIVE_PREFERENCE = MetricSpec("relative_preference", "Relative preference", 100.0)
CLOSED_ACCURACY = MetricSpec("accuracy", "Accuracy", 100.0)
ITEM_METRICS = (POPE_ACCURACY, POPE_F1, RELATIVE_PREFERENCE, CLOSED_ACCURACY)


@dataclass(frozen=True)
class ItemScores:
    """Aligned per-item arrays for one metric; ``clusters`` are the items' source image ids and
    ``strata`` the splits the metric is averaged over (POPE: random/popular/adversarial)."""

    metric: MetricSpec
    ids: tuple[str, ...]
    clusters: tuple[str, ...]
    strata: tuple[str, ...]
    num: np.ndarray
    den: np.ndarray

    def subset(self, ids: list[str]) -> ItemScores:
        index = {item_id: i for i, item_id in enumerate(self.ids)}
        rows = [index[i] for i in ids]
        return ItemScores(self.metric, tuple(ids), tuple(self.clusters[r] for r in rows),
                          tuple(self.strata[r] for r in rows), self.num[rows], self.den[rows])


def pope_by_split(protocol: str) -> bool:
    """Whether the run's protocol averages POPE over its three splits (``per_split``) rather than
    pooling every item (``pooled``, the paper's reference code)."""
    from robustbench_mllm.protocols import get_protocol

    return get_protocol(protocol).pope_average != "pooled"


def item_scores(run: Run, dataset: str, variant: str) -> dict[str, ItemScores]:
    """Every per-item metric this run supports on the variant (empty without generated data)."""
    if run.data is None:
        return {}
    rows = read_item_table(run.data, dataset, variant)
    if not rows:
        return {}
    answers = run.answers(dataset, variant)
    scores: dict[str, ItemScores] = {}
    labelled = [r for r in rows if r["id"] in answers]
    if labelled and all(str(r.get("label", "")).lower() in YES_NO for r in labelled):
        scores.update(_pope_scores(labelled, answers, by_split=pope_by_split(run.protocol)))
    elif labelled and all(r.get("label") for r in labelled):
        scores[CLOSED_ACCURACY.key] = _closed_form_scores(labelled, answers)
    scores.update(_judge_scores(rows, judgments_of(run.path, dataset, variant)))
    return scores


def _judge_scores(rows: tuple[dict[str, Any], ...], judged: list[dict[str, Any]]) -> dict[str, ItemScores]:
    """Relative preference overall and per category. One record per (item, judge run), with the run
    as the stratum: the mean over strata of 100 * sum(model) / sum(reference) is the judge stage's
    mean over runs of the per-run score."""
    by_id = {str(r["id"]): r for r in rows}
    records = [j for j in judged if str(j["id"]) in by_id]
    if not records:
        return {}

    def pack(key: str, title: str, chosen: list[dict[str, Any]]) -> ItemScores:
        return ItemScores(MetricSpec(key, title, 100.0), tuple(f"{j['id']}#{j['run']}" for j in chosen),
                          tuple(str(by_id[str(j["id"])]["image_id"]) for j in chosen),
                          tuple(str(j["run"]) for j in chosen),
                          np.array([float(j["model_score"]) for j in chosen]),
                          np.array([float(j["reference_score"]) for j in chosen]))

    scores = {RELATIVE_PREFERENCE.key: pack(RELATIVE_PREFERENCE.key, RELATIVE_PREFERENCE.title, records)}
    for category in sorted({str(by_id[str(j["id"])].get("category") or "") for j in records} - {""}):
        chosen = [j for j in records if by_id[str(j["id"])].get("category") == category]
        key = f"{RELATIVE_PREFERENCE.key}.{category}"
        scores[key] = pack(key, f"{RELATIVE_PREFERENCE.title} ({category})", chosen)
    return scores


def _pack(metric: MetricSpec, rows: list[dict[str, Any]], num: np.ndarray, den: np.ndarray, *,
          by_split: bool) -> ItemScores:
    return ItemScores(metric, tuple(str(r["id"]) for r in rows), tuple(str(r["image_id"]) for r in rows),
                      tuple(str(r.get("split") or "") if by_split else "" for r in rows),
                      np.asarray(num, dtype=float), np.asarray(den, dtype=float))


def _pope_scores(rows: list[dict[str, Any]], answers: dict[str, str], *, by_split: bool) -> dict[str, ItemScores]:
    """Per item, with the evaluate stage's (LLaVA) answer rule, the one its headline numbers use;
    an unparseable answer would be wrong in accuracy and out of TP/FP/FN, as in ``metrics.pope``.
    ``by_split``: the splits are strata (mean over splits), else every item is pooled."""
    said = [pope_answer(answers[r["id"]]) for r in rows]
    truth = [str(r["label"]).lower() for r in rows]
    correct = np.array([s == t for s, t in zip(said, truth, strict=False)], dtype=float)
    tp = np.array([s == t == "yes" for s, t in zip(said, truth, strict=False)], dtype=float)
    fp_fn = np.array([s is not None and s != t for s, t in zip(said, truth, strict=False)], dtype=float)
    return {
        POPE_ACCURACY.key: _pack(POPE_ACCURACY, rows, correct, np.ones(len(rows)), by_split=by_split),
        # F1 = 2TP / (2TP + FP + FN): a ratio of per-item sums, so it bootstraps like accuracy.
        POPE_F1.key: _pack(POPE_F1, rows, 2 * tp, 2 * tp + fp_fn, by_split=by_split),
    }


def _closed_form_scores(rows: list[dict[str, Any]], answers: dict[str, str]) -> ItemScores:
    from robustbench_mllm.metrics.closed_form import extract_option_letter

    correct = np.array([
        float(extract_option_letter(answers[r["id"]], r.get("choices") or ()) == str(r["label"]).strip().upper())
        for r in rows])
    return _pack(CLOSED_ACCURACY, rows, correct, np.ones(len(rows)), by_split=False)


def pope_answer(answer: str, rule: str = "llava") -> str | None:
    """"yes", "no" or None (unparseable), by the evaluate stage's rule."""
    from robustbench_mllm.metrics.pope import parse_yes_no

    return parse_yes_no(answer, rule)  # type: ignore[arg-type]
