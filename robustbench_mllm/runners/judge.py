"""The judge stage (``robust-mllm judge RUN_DIR``): judge every open-ended prediction of a run folder.

Reads RUN/run.json (for the generated data dir) and RUN/predictions/<dataset>/<variant>.jsonl,
takes items from the generated set, skips closed-form datasets (items with a label or without a
reference answer), and writes RUN/judgments/<dataset>/<variant>.jsonl (one Judgment per item and
run, for confidence intervals), the response cache RUN/judgments/cache.sqlite, and the "judge"
section of RUN/results.json: ``usage`` is this invocation's (a cached rerun sends nothing and costs
$0), ``usage_total`` the sum over every invocation on the run (the previous section's total plus
this one; an invocation killed before writing results is not counted).

Choices (defaults from the protocol recorded with the data, ``protocol`` overrides): the prompt
(the paper's rule.json, fetched pinned, or ours; ``rules`` a local file), which question the judge
sees for a text variant (``judge_question``: the perturbed one or the clean one), and, for LB-Wild
and WV-Bench, the GPT-4o reference answers of ``robust-mllm references`` as Assistant 1 (the
paper's protocol; ``reference_answers`` dataset uses the data set's own answers instead).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from robustbench_mllm.errors import MissingResourceError
from robustbench_mllm.judges.judge import JudgeTask, RelativePreferenceJudge
from robustbench_mllm.judges.official_rules import RuleFiles, judge_prompt
from robustbench_mllm.judges.prompts import GENERATED_REFERENCE_DATASETS, JudgePrompt, judge_style
from robustbench_mllm.llm.cache import ResponseCache
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.llm.usage import UsageMeter, add_usage, load_prices
from robustbench_mllm.metrics.relative_preference import relative_preference
from robustbench_mllm.protocols import JudgePrompt as JudgePromptName
from robustbench_mllm.protocols import JudgeQuestion, Protocol
from robustbench_mllm.records import Item, Judgment, is_open_ended
from robustbench_mllm.store.judgments import write_judgments
from robustbench_mllm.store.layout import judge_cache_file, predictions_dir
from robustbench_mllm.store.manifest import resolve_protocol
from robustbench_mllm.store.predictions import has_predictions, predicted_variants, read_answers
from robustbench_mllm.store.references import read_references
from robustbench_mllm.store.results import load_results, update_results
from robustbench_mllm.store.run_info import data_folder
from robustbench_mllm.store.variants import load_items

ReferenceAnswers = Literal["generated", "dataset"]


@dataclass(frozen=True)
class JudgeConfig:
    run_dir: Path
    endpoint: ChatEndpoint
    prompt: JudgePrompt | None = None  # None: from `prompt_name` / `rules` / the protocol
    prompt_name: JudgePromptName | None = None  # None: the protocol's
    rules: Path | None = None  # a local rule.json (overrides the pinned download)
    protocol: str | None = None  # None: the one recorded with the data
    judge_question: JudgeQuestion | None = None  # None: the protocol's
    reference_answers: ReferenceAnswers = "generated"
    rule_files: RuleFiles = RuleFiles()  # where the pinned rules are fetched from (tests: a local server)
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
    references: dict[str, str] = field(default_factory=dict)  # dataset -> "dataset" or "generated:<model>"
    missing_references: dict[str, int] = field(default_factory=dict)  # "dataset/variant" -> items left out


def _clean_questions(data: Path, dataset: str) -> dict[str, str]:
    return {item.id: item.question for item in load_items(data, dataset, "clean")}


def _references(data: Path, dataset: str, policy: ReferenceAnswers) -> tuple[dict[str, str] | None, str]:
    """Generated reference answers for a data set the paper judges against them, and a label."""
    if dataset not in GENERATED_REFERENCE_DATASETS or policy == "dataset":
        return None, "dataset"
    generated = read_references(data, dataset)
    if generated is None:
        raise MissingResourceError(
            f"{data}: no generated reference answers for {dataset} (the paper judges LB-Wild and WV-Bench "
            f"against GPT-4o answers): make them with `robust-mllm references` on that folder first, or set "
            "`reference_answers` dataset to judge against the data set's own answers"
        )
    models = sorted({answer.model for answer in generated.values()})
    return {key: answer.answer for key, answer in generated.items()}, f"generated:{','.join(models)}"


def plan_tasks(run_dir: Path, data: Path, runs: int, judge_question: JudgeQuestion = "perturbed",
               reference_answers: ReferenceAnswers = "generated") -> TaskPlan:
    if not has_predictions(run_dir):
        raise MissingResourceError(f"{predictions_dir(run_dir)}: no predictions (run `robust-mllm evaluate` first)")
    tasks: list[JudgeTask] = []
    missing: dict[str, int] = {}
    closed: list[str] = []
    references: dict[str, str] = {}
    missing_references: dict[str, int] = {}
    for dataset, variant in predicted_variants(run_dir):
        items = [item for item in load_items(data, dataset, variant) if is_open_ended(item)]
        if not items:
            closed.append(f"{dataset}/{variant}")
            continue
        answers = read_answers(run_dir, dataset, variant)
        missing[f"{dataset}/{variant}"] = sum(item.id not in answers for item in items)
        questions = _clean_questions(data, dataset) if judge_question == "clean" else {}
        generated, references[dataset] = _references(data, dataset, reference_answers)
        judged: list[Item] = []
        for item in items:
            if item.id not in answers:
                continue
            if generated is not None and item.id not in generated:
                missing_references[f"{dataset}/{variant}"] = missing_references.get(f"{dataset}/{variant}", 0) + 1
                continue
            judged.append(item)
        tasks.extend(
            JudgeTask(item, answers[item.id], variant, run, question=questions.get(item.id),
                      reference=None if generated is None else generated[item.id])
            for run in range(runs) for item in judged
        )
    return TaskPlan(tasks, missing, closed, references, missing_references)


def summarise(judgments: Sequence[Judgment]) -> dict[str, dict[str, Any]]:
    """``{dataset: {variant: relative_preference(...)}}``."""
    groups: dict[str, dict[str, list[Judgment]]] = defaultdict(lambda: defaultdict(list))
    for judgment in judgments:
        groups[judgment.dataset][judgment.variant].append(judgment)
    return {
        dataset: {variant: relative_preference(js) for variant, js in sorted(variants.items())}
        for dataset, variants in sorted(groups.items())
    }


def cumulative_usage(run_dir: Path, usage: dict[str, Any]) -> dict[str, Any]:
    """This invocation's usage added to the totals of the run's previous "judge" section (whose
    ``usage`` alone was the total when it predates ``usage_total``), with the invocation count."""
    previous = load_results(run_dir).get("judge")
    if not isinstance(previous, dict) or "usage" not in previous:
        return {**usage, "invocations": 1}
    total = previous.get("usage_total", {**previous["usage"], "invocations": 1})
    return {**add_usage(total, usage), "invocations": total["invocations"] + 1}


def resolve_prompt(config: JudgeConfig, protocol: Protocol, tasks: Sequence[JudgeTask]) -> JudgePrompt:
    """The explicit prompt, else the user's rules file, else the protocol's (or named) prompt;
    Vittle's no-context rules are fetched only when LB-Wilder or WV-Bench is judged."""
    if config.prompt is not None:
        return config.prompt
    no_context = any(judge_style(task.item) == "no_context" for task in tasks)
    return judge_prompt(config.prompt_name or protocol.judge_prompt, config.rules, no_context, config.rule_files)


def run_judge(
    config: JudgeConfig, on_planned: Callable[[int], None] | None = None,
    on_judgment: Callable[[Judgment], None] | None = None,
) -> dict[str, Any]:
    """Judge, write judgments and results; returns the "judge" results section."""
    data = data_folder(config.run_dir, config.data)
    prices = load_prices(config.prices)  # a bad price table stops the run before any request
    protocol = resolve_protocol(data, config.protocol)
    judge_question = config.judge_question or protocol.judge_question
    plan = plan_tasks(config.run_dir, data, config.runs, judge_question, config.reference_answers)
    prompt = resolve_prompt(config, protocol, plan.tasks)
    for task in plan.tasks:  # a rule missing from the rules fails here, before anything is sent
        prompt.rule_for(task.item)
    if on_planned is not None:
        on_planned(len(plan.tasks))
    usage = UsageMeter()
    with ResponseCache(judge_cache_file(config.run_dir)) as cache:
        judge = RelativePreferenceJudge(
            config.endpoint, prompt, cache=cache, usage=usage, temperature=config.temperature,
            max_retries=config.max_retries, refresh=config.refresh, judge_question=judge_question,
        )
        judgments = judge.score(plan.tasks, on_judgment=on_judgment)
    write_judgments(config.run_dir, judgments)
    this_invocation = usage.summary(prices)
    payload: dict[str, Any] = {
        "judge": "relative_preference",
        "endpoint": config.endpoint.describe(),
        "protocol": {"name": protocol.name, "version": protocol.version},
        "prompt": prompt.describe(),
        "judge_question": judge_question,
        "reference_answers": plan.references,
        "missing_references": plan.missing_references,
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
