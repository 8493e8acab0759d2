"""The judge stage (``robust-mllm judge RUN_DIR``): judge every open-ended prediction of a run folder.

Reads RUN/run.json (for the generated data dir) and RUN/predictions/<dataset>/<variant>.jsonl,
takes items from the generated set, skips closed-form datasets (items with a label or without a
reference answer), and writes RUN/judgments/<dataset>/<variant>.jsonl (one Judgment per item and
run, for confidence intervals), the response cache RUN/judgments/cache.sqlite, and the "judge"
section of RUN/results.json: ``usage`` is this invocation's (a cached rerun sends nothing and costs
$0), ``usage_total`` the sum over every invocation on the run (the previous section's total plus
this one; an invocation killed before writing results is not counted).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.judges.judge import JudgeTask, RelativePreferenceJudge
from robustbench_mllm.judges.prompts import JudgePrompt
from robustbench_mllm.llm.cache import ResponseCache
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.llm.usage import UsageMeter, load_prices
from robustbench_mllm.metrics.relative_preference import relative_preference
from robustbench_mllm.records import Judgment, is_open_ended
from robustbench_mllm.store.judgments import write_judgments
from robustbench_mllm.store.layout import judge_cache_file, predictions_dir
from robustbench_mllm.store.predictions import has_predictions, predicted_variants, read_answers
from robustbench_mllm.store.results import load_results, update_results
from robustbench_mllm.store.run_info import data_folder
from robustbench_mllm.store.variants import load_items


@dataclass(frozen=True)
class JudgeConfig:
    run_dir: Path
    endpoint: ChatEndpoint
    prompt: JudgePrompt
    runs: int = 3
    temperature: float = 0.0
    max_retries: int = 3
    refresh: bool = False
    data: Path | None = None  # default: the folder run.json records
    prices: Path | None = None


@dataclass(frozen=True)
class TaskPlan:
    tasks: list[JudgeTask]
    missing_predictions: dict[str, int]  # "dataset/variant" -> open-ended items without an answer
    skipped_closed_form: list[str]  # "dataset/variant" judged elsewhere (POPE, multiple choice)


def plan_tasks(run_dir: Path, data: Path, runs: int) -> TaskPlan:
    if not has_predictions(run_dir):
        raise MissingResourceError(f"{predictions_dir(run_dir)}: no predictions (run `robust-mllm evaluate` first)")
    tasks: list[JudgeTask] = []
    missing: dict[str, int] = {}
    closed: list[str] = []
    for dataset, variant in predicted_variants(run_dir):
        items = [item for item in load_items(data, dataset, variant) if is_open_ended(item)]
        if not items:
            closed.append(f"{dataset}/{variant}")
            continue
        answers = read_answers(run_dir, dataset, variant)
        missing[f"{dataset}/{variant}"] = sum(item.id not in answers for item in items)
        tasks.extend(
            JudgeTask(item, answers[item.id], variant, run)
            for run in range(runs) for item in items if item.id in answers
        )
    return TaskPlan(tasks, missing, closed)


def summarise(judgments: Sequence[Judgment]) -> dict[str, dict[str, Any]]:
    """``{dataset: {variant: relative_preference(...)}}``."""
    groups: dict[str, dict[str, list[Judgment]]] = defaultdict(lambda: defaultdict(list))
    for judgment in judgments:
        groups[judgment.dataset][judgment.variant].append(judgment)
    return {
        dataset: {variant: relative_preference(js) for variant, js in sorted(variants.items())}
        for dataset, variants in sorted(groups.items())
    }


USAGE_COUNTS = ("requests", "cache_hits", "prompt_tokens", "completion_tokens")


def add_usage(total: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two ``UsageMeter.summary()`` dicts added per model; a model's cost stays None (unpriced)
    when either side lacks it, and the overall cost sums the priced models, as ``summary`` does."""
    models: dict[str, Any] = {}
    for model in sorted({*total["models"], *new["models"]}):
        mine, theirs = total["models"].get(model), new["models"].get(model)
        if mine is None or theirs is None:
            models[model] = dict(mine or theirs)
            continue
        costs = (mine["estimated_cost_usd"], theirs["estimated_cost_usd"])
        models[model] = {**{key: mine[key] + theirs[key] for key in USAGE_COUNTS},
                         "estimated_cost_usd": None if None in costs else costs[0] + costs[1]}
    cost = sum(m["estimated_cost_usd"] for m in models.values() if m["estimated_cost_usd"] is not None)
    return {"models": models, "estimated_cost_usd": round(cost, 6)}


def cumulative_usage(run_dir: Path, usage: dict[str, Any]) -> dict[str, Any]:
    """This invocation's usage added to the totals of the run's previous "judge" section (whose
    ``usage`` alone was the total when it predates ``usage_total``), with the invocation count."""
    previous = load_results(run_dir).get("judge")
    if not isinstance(previous, dict) or "usage" not in previous:
        return {**usage, "invocations": 1}
    total = previous.get("usage_total", {**previous["usage"], "invocations": 1})
    return {**add_usage(total, usage), "invocations": total["invocations"] + 1}


def run_judge(
    config: JudgeConfig, on_planned: Callable[[int], None] | None = None,
    on_judgment: Callable[[Judgment], None] | None = None,
) -> dict[str, Any]:
    """Judge, write judgments and results; returns the "judge" results section."""
    data = data_folder(config.run_dir, config.data)
    prices = load_prices(config.prices)  # a bad price table stops the run before any request
    plan = plan_tasks(config.run_dir, data, config.runs)
    if on_planned is not None:
        on_planned(len(plan.tasks))
    usage = UsageMeter()
    with ResponseCache(judge_cache_file(config.run_dir)) as cache:
        judge = RelativePreferenceJudge(
            config.endpoint, config.prompt, cache=cache, usage=usage,
            temperature=config.temperature, max_retries=config.max_retries, refresh=config.refresh,
        )
        judgments = judge.score(plan.tasks, on_judgment=on_judgment)
    write_judgments(config.run_dir, judgments)
    this_invocation = usage.summary(prices)
    payload: dict[str, Any] = {
        "judge": "relative_preference",
        "endpoint": config.endpoint.describe(),
        "prompt": config.prompt.describe(),
        "runs": config.runs,
        "temperature": config.temperature,
        "max_retries": config.max_retries,
        "data_dir": str(data),
        "n_judgments": len(judgments),
        "n_failed": sum(j.failure is not None for j in judgments),
        "missing_predictions": plan.missing_predictions,
        "skipped_closed_form": plan.skipped_closed_form,
        "usage": this_invocation,
        "usage_total": cumulative_usage(config.run_dir, this_invocation),  # every invocation on this run
        "datasets": summarise(judgments),
    }
    update_results(config.run_dir, "judge", payload)
    return payload
