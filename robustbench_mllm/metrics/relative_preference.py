"""LLaVA-Bench relative preference: 100 * mean(model scores) / mean(reference scores).

Computed per category and overall, per judge run, then averaged over runs (the Vittle protocol
averages 3 runs). Failed judgments are excluded from both means and counted; they are never
averaged in as -1 (REFERENCE section 7).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any

from robustbench_mllm.records import Judgment

OVERALL = "overall"


@dataclass(frozen=True)
class RelativeScore:
    """One group's score; ``score`` is None when nothing was judged (or the reference mean is 0)."""

    score: float | None
    model_mean: float | None
    reference_mean: float | None
    n_judged: int
    n_failed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def relative_score(judgments: Iterable[Judgment]) -> RelativeScore:
    judged: list[Judgment] = []
    failed = 0
    for judgment in judgments:
        if judgment.failure is None and None not in (judgment.model_score, judgment.reference_score):
            judged.append(judgment)
        else:
            failed += 1
    if not judged:
        return RelativeScore(None, None, None, 0, failed)
    model = fmean(j.model_score for j in judged)  # type: ignore[misc]
    reference = fmean(j.reference_score for j in judged)  # type: ignore[misc]
    score = 100.0 * model / reference if reference > 0 else None
    return RelativeScore(score, model, reference, len(judged), failed)


def by_category(judgments: Sequence[Judgment]) -> dict[str, RelativeScore]:
    """``{category: score, ..., "overall": score}`` for one run (overall pools all items)."""
    groups: dict[str, list[Judgment]] = defaultdict(list)
    for judgment in judgments:
        groups[judgment.category or "uncategorised"].append(judgment)
    scores = {category: relative_score(groups[category]) for category in sorted(groups)}
    scores[OVERALL] = relative_score(judgments)
    return scores


def relative_preference(judgments: Sequence[Judgment]) -> dict[str, Any]:
    """Per run and averaged over runs, per category and overall, with failure counts.

    The average over runs is the mean of the per-run scores that exist (a run whose group has no
    successful judgment contributes nothing and is counted in ``runs_used``).
    """
    runs: dict[int, list[Judgment]] = defaultdict(list)
    for judgment in judgments:
        runs[judgment.run].append(judgment)
    per_run = {run: by_category(runs[run]) for run in sorted(runs)}
    groups = sorted({group for scores in per_run.values() for group in scores})
    mean: dict[str, dict[str, Any]] = {}
    for group in groups:
        values = [s[group].score for s in per_run.values() if group in s and s[group].score is not None]
        mean[group] = {
            "score": fmean(values) if values else None,
            "runs_used": len(values),
            "n_judged": sum(s[group].n_judged for s in per_run.values() if group in s),
            "n_failed": sum(s[group].n_failed for s in per_run.values() if group in s),
        }
    return {
        "mean_over_runs": mean,
        "per_run": {str(run): {g: s.to_dict() for g, s in scores.items()} for run, scores in per_run.items()},
    }
