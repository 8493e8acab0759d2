"""``robust-mllm judge RUN_DIR``: judge every open-ended prediction of a run folder.

Reads RUN/run.json (for the generated data dir) and RUN/predictions/<dataset>/<variant>.jsonl,
takes items from the generated set, skips closed-form datasets (items with a label or without a
reference answer), and writes RUN/judgments/<dataset>/<variant>.jsonl (one Judgment per item and
run, for confidence intervals), the response cache RUN/judgments/cache.sqlite, and the "judge"
section of RUN/results.json: ``usage`` is this invocation's (a cached rerun sends nothing and costs
$0), ``usage_total`` the sum over every invocation on the run (the previous section's total plus
this one; an invocation killed before writing results is not counted).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import (
    DataFormatError, atomic_write_text, read_json, read_jsonl, require_field,
)
from robustbench_mllm.judges.judge import JudgeTask, RelativePreferenceJudge
from robustbench_mllm.judges.prompts import JudgePrompt
from robustbench_mllm.layout import RUN_INFO
from robustbench_mllm.llm.cache import ResponseCache
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.llm.usage import UsageMeter, load_prices
from robustbench_mllm.metrics.relative_preference import relative_preference
from robustbench_mllm.records import Item, Judgment
from robustbench_mllm.results import load_results, update_results

DATA_DIR_KEYS = ("data_dir", "data", "generated_dir")


@dataclass(frozen=True)
class JudgeConfig:
    run_dir: Path
    endpoint: ChatEndpoint
    prompt: JudgePrompt
    runs: int = 3
    temperature: float = 0.0
    max_retries: int = 3
    refresh: bool = False
    data_dir: Path | None = None
    prices: Path | None = None


@dataclass(frozen=True)
class TaskPlan:
    tasks: list[JudgeTask]
    missing_predictions: dict[str, int]  # "dataset/variant" -> open-ended items without an answer
    skipped_closed_form: list[str]  # "dataset/variant" judged elsewhere (POPE, multiple choice)


def judgments_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "judgments"


def resolve_data_dir(run_dir: Path, data_dir: Path | None) -> Path:
    """``--data`` if given, else the generated-data folder recorded in RUN/run.json."""
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder (make it with `robust-mllm evaluate --out {run_dir}`)")
    if data_dir is not None:
        return Path(data_dir)
    info_path = Path(run_dir) / RUN_INFO
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path}: missing (is {run_dir} a `robust-mllm evaluate` run folder?); "
                                "or pass --data GENERATED_DIR")
    info = read_json(info_path)
    for key in DATA_DIR_KEYS:
        if isinstance(info, dict) and info.get(key):
            path = Path(info[key])
            return path if path.is_absolute() else (Path(run_dir) / path)
    raise DataFormatError(f"{info_path}: no {' / '.join(DATA_DIR_KEYS)} field; pass --data GENERATED_DIR")


def read_answers(path: Path) -> dict[str, str]:
    """id -> answer; a later line for the same id wins (a resumed evaluate may append again)."""
    answers: dict[str, str] = {}
    for row, record in enumerate(read_jsonl(path, tolerate_torn_tail=True), start=1):
        where = f"{path}: line {row}"
        answer = require_field(record, "answer", where)
        if not isinstance(answer, str):
            raise DataFormatError(f"{where}: field 'answer' must be a string")
        answers[str(require_field(record, "id", where))] = answer
    return answers


def is_open_ended(item: Item) -> bool:
    """Judged (and used for EMID) only when there is a reference answer and no closed-form label."""
    return bool(item.reference_answer) and not item.label


def plan_tasks(run_dir: Path, data_dir: Path, runs: int) -> TaskPlan:
    from robustbench_mllm.sources.generated import load_items

    predictions = Path(run_dir) / "predictions"
    if not predictions.is_dir():
        raise FileNotFoundError(f"{predictions}: no predictions (run `robust-mllm evaluate` first)")
    tasks: list[JudgeTask] = []
    missing: dict[str, int] = {}
    closed: list[str] = []
    for dataset_dir in sorted(p for p in predictions.iterdir() if p.is_dir()):
        for pred_file in sorted(dataset_dir.glob("*.jsonl")):
            dataset, variant = dataset_dir.name, pred_file.stem
            items = [item for item in load_items(data_dir, dataset, variant) if is_open_ended(item)]
            if not items:
                closed.append(f"{dataset}/{variant}")
                continue
            answers = read_answers(pred_file)
            missing[f"{dataset}/{variant}"] = sum(item.id not in answers for item in items)
            tasks.extend(
                JudgeTask(item, answers[item.id], variant, run)
                for run in range(runs) for item in items if item.id in answers
            )
    return TaskPlan(tasks, missing, closed)


def write_judgments(run_dir: Path, judgments: Sequence[Judgment]) -> None:
    """One JSONL per variant, rewritten atomically (the cache holds the crash-safe state)."""
    groups: dict[tuple[str, str], list[Judgment]] = defaultdict(list)
    for judgment in judgments:
        groups[(judgment.dataset, judgment.variant)].append(judgment)
    for (dataset, variant), group in groups.items():
        lines = "".join(json.dumps(j.to_dict(), sort_keys=True) + "\n" for j in group)
        atomic_write_text(judgments_dir(run_dir) / dataset / f"{variant}.jsonl", lines)


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
    data_dir = resolve_data_dir(config.run_dir, config.data_dir)
    plan = plan_tasks(config.run_dir, data_dir, config.runs)
    if on_planned is not None:
        on_planned(len(plan.tasks))
    usage = UsageMeter()
    with ResponseCache(judgments_dir(config.run_dir) / "cache.sqlite") as cache:
        judge = RelativePreferenceJudge(
            config.endpoint, config.prompt, cache=cache, usage=usage,
            temperature=config.temperature, max_retries=config.max_retries, refresh=config.refresh,
        )
        judgments = judge.score(plan.tasks, on_judgment=on_judgment)
    write_judgments(config.run_dir, judgments)
    this_invocation = usage.summary(load_prices(config.prices))
    payload: dict[str, Any] = {
        "judge": "relative_preference",
        "endpoint": config.endpoint.describe(),
        "prompt": config.prompt.describe(),
        "runs": config.runs,
        "temperature": config.temperature,
        "max_retries": config.max_retries,
        "data_dir": str(data_dir),
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
