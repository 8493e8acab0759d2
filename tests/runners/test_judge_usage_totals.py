"""The "judge" section keeps the run's cumulative usage beside the latest invocation's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robustbench_mllm.llm.usage import add_usage
from robustbench_mllm.runners.judge import cumulative_usage
from robustbench_mllm.store.results import update_results


def _usage(requests: int, hits: int, prompt: int, completion: int, cost: float | None,
           model: str = "gpt-4o") -> dict[str, Any]:
    entry = {"requests": requests, "cache_hits": hits, "prompt_tokens": prompt, "completion_tokens": completion,
             "estimated_cost_usd": cost}
    return {"models": {model: entry}, "estimated_cost_usd": cost or 0.0}


def test_first_invocation_total_is_its_own_usage(tmp_path: Path) -> None:
    now = _usage(10, 0, 1000, 100, 0.5)
    assert cumulative_usage(tmp_path, now) == {**now, "invocations": 1}


def test_cached_rerun_keeps_the_cost_already_paid(tmp_path: Path) -> None:
    first = _usage(10, 0, 1000, 100, 0.5)
    update_results(tmp_path, "judge", {"usage": first, "usage_total": cumulative_usage(tmp_path, first)})
    rerun = _usage(0, 10, 0, 0, 0.0)
    total = cumulative_usage(tmp_path, rerun)
    assert total["invocations"] == 2 and total["estimated_cost_usd"] == pytest.approx(0.5)
    assert total["models"]["gpt-4o"] == {"requests": 10, "cache_hits": 10, "prompt_tokens": 1000,
                                         "completion_tokens": 100, "estimated_cost_usd": pytest.approx(0.5)}
    update_results(tmp_path, "judge", {"usage": rerun, "usage_total": total})
    third = cumulative_usage(tmp_path, _usage(2, 0, 300, 30, 0.25))
    assert (third["invocations"], third["estimated_cost_usd"]) == (3, pytest.approx(0.75))


def test_section_without_totals_counts_as_one_invocation(tmp_path: Path) -> None:
    update_results(tmp_path, "judge", {"usage": _usage(4, 0, 400, 40, 0.2)})
    total = cumulative_usage(tmp_path, _usage(1, 3, 100, 10, 0.05))
    assert (total["invocations"], total["models"]["gpt-4o"]["requests"]) == (2, 5)


def test_unpriced_model_stays_unpriced_and_new_models_are_added() -> None:
    total = add_usage(_usage(1, 0, 10, 1, None, "local-llm"), _usage(2, 0, 20, 2, 0.1))
    assert total["models"]["local-llm"]["estimated_cost_usd"] is None
    assert total["models"]["gpt-4o"]["requests"] == 2 and total["estimated_cost_usd"] == pytest.approx(0.1)
    again = add_usage(total, _usage(1, 0, 10, 1, None, "local-llm"))
    assert again["models"]["local-llm"]["requests"] == 2 and again["models"]["local-llm"]["estimated_cost_usd"] is None
