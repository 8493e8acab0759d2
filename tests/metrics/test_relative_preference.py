"""Relative preference on hand-made judgments: exact numbers, failures excluded and counted."""

from __future__ import annotations

import pytest

from robustbench_mllm.metrics.relative_preference import relative_preference, relative_score
from robustbench_mllm.records import Judgment


def _j(run: int, category: str, ref: float | None, model: float | None, failure: str | None = None) -> Judgment:
    return Judgment(
        id=f"{category}{ref}{model}", dataset="d", variant="clean", run=run, judge_model="m",
        prompt_id="p", reference_score=ref, model_score=model, failure=failure, category=category,
    )


JUDGMENTS = [
    # run 0: conv 100*(6+4)/(8+8) = 62.5; detail 100*9/10 = 90 with one failure excluded
    _j(0, "conv", 8, 6), _j(0, "conv", 8, 4), _j(0, "detail", 10, 9),
    _j(0, "detail", None, None, "unparseable judge response: 'no idea'"),
    # run 1: conv 100*7/7 = 100; detail 100*(5+9)/(10+10) = 70
    _j(1, "conv", 7, 7), _j(1, "detail", 10, 5), _j(1, "detail", 10, 9),
]


def test_per_run_per_category_and_overall() -> None:
    result = relative_preference(JUDGMENTS)
    run0, run1 = result["per_run"]["0"], result["per_run"]["1"]
    assert run0["conv"]["score"] == pytest.approx(62.5)
    assert run0["detail"] == {"score": pytest.approx(90.0), "model_mean": 9.0, "reference_mean": 10.0,
                              "n_judged": 1, "n_failed": 1}
    assert run0["overall"]["score"] == pytest.approx(100 * (19 / 3) / (26 / 3))  # failure excluded
    assert run1["conv"]["score"] == pytest.approx(100.0)
    assert run1["detail"]["score"] == pytest.approx(70.0)
    assert run1["overall"]["score"] == pytest.approx(100 * 21 / 27)


def test_mean_over_runs_averages_run_scores() -> None:
    mean = relative_preference(JUDGMENTS)["mean_over_runs"]
    assert mean["conv"]["score"] == pytest.approx((62.5 + 100.0) / 2)
    assert mean["detail"] == {"score": pytest.approx(80.0), "runs_used": 2, "n_judged": 3, "n_failed": 1}
    overall = (100 * 19 / 26 + 100 * 21 / 27) / 2
    assert mean["overall"]["score"] == pytest.approx(overall)


def test_all_failed_gives_no_score_instead_of_minus_one() -> None:
    failed = [_j(0, "conv", None, None, "timeout"), _j(0, "conv", None, None, "timeout")]
    score = relative_score(failed)
    assert (score.score, score.n_judged, score.n_failed) == (None, 0, 2)
    assert relative_preference(failed)["mean_over_runs"]["conv"]["runs_used"] == 0
