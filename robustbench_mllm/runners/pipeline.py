"""``robust-mllm run CONFIG.yaml``: the whole benchmark, stage after stage, each resuming.

generate (when the suite folder is missing or incomplete) -> evaluate every model -> judge its
open-ended answers -> emid / represent where asked -> the report. Before calling a stage the
pipeline asks whether anything is left for it: generate and evaluate from their own folders (every
expected variant present, every item answered), judge from the stored judgments (every item x
judge run judged with the same settings), emid, represent and the report from a fingerprint of
their settings and input files (``store/pipeline_state.py``). A rerun with nothing new therefore
loads no model, sends no request and rewrites no file; a stage that has work resumes where it
stopped, as when run on its own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from robustbench_mllm import __version__
from robustbench_mllm.runners.evaluate.run import EvaluateConfig
from robustbench_mllm.runners.generate.run import TextHook
from robustbench_mllm.runners.pipeline_config import JUDGE_PROMPT_NAMES, JudgeStage, ModelStages, PipelineConfig
from robustbench_mllm.store.pipeline_state import fingerprint, read_state, record_state, run_files

Action = Literal["ran", "up to date", "not asked"]


@dataclass(frozen=True)
class StageOutcome:
    stage: str
    target: str
    action: Action
    detail: str = ""


def generate_pending(config: PipelineConfig) -> bool:
    """Whether the suite folder lacks a complete manifest made with these settings, or any of
    the variants these settings select."""
    from robustbench_mllm.runners.generate.plan import select_variants, with_storage
    from robustbench_mllm.sources.catalog import default_perturbations
    from robustbench_mllm.store.layout import MANIFEST
    from robustbench_mllm.store.manifest import read_manifest
    from robustbench_mllm.store.variants import list_variants

    if not (config.data / MANIFEST).is_file():
        return True
    manifest = read_manifest(config.data)
    params = with_storage(config.generate)  # the storage generate records is the protocol's
    recorded = manifest.get("parameters") or {}
    wanted = json.loads(json.dumps(params.identity()))
    if not manifest.get("complete") or any(recorded.get(key) != value for key, value in wanted.items()):
        return True  # generate itself refuses a folder made with other settings, with the reason
    present = list_variants(config.data)
    selection = params.perturbations or default_perturbations(params.suite)
    datasets = manifest.get("datasets") or {}
    return not datasets or any(
        not {s.name for s in select_variants(selection, entry["task"], params.severities, params.seed)}
        <= set(present.get(dataset, ())) for dataset, entry in datasets.items())


def evaluate_pending(config: EvaluateConfig) -> bool:
    """Whether any selected item lacks an answer or the scores are older than the answers; a run
    folder made with other settings is refused here exactly as ``evaluate`` refuses it."""
    from robustbench_mllm.models.detect import detect_adapter
    from robustbench_mllm.runners.evaluate.run import check_run_info, plan
    from robustbench_mllm.store.manifest import manifest_sha256, resolve_protocol
    from robustbench_mllm.store.results import load_results
    from robustbench_mllm.store.run_info import has_run_info

    if not has_run_info(config.out):
        return True
    config = replace(config, protocol=resolve_protocol(config.data, config.protocol).name)
    check_run_info(config, config.adapter or detect_adapter(config.model, config.options.base_url),
                   manifest_sha256(config.data))
    work = plan(config)
    section = load_results(config.out).get("evaluate")
    scored = section.get("datasets", {}) if isinstance(section, dict) else {}
    return any(w.todo or scored.get(w.dataset, {}).get(w.variant, {}).get("answered") != len(w.items) for w in work)


def judge_config(stage: JudgeStage, run_dir: Path, data: Path) -> Any:
    """The judge stage's settings as ``judge`` takes them; ``stage.prompt`` is a prompt's name,
    a rule.json path, or None (the protocol's prompt)."""
    from robustbench_mllm.runners.judge import JudgeConfig

    named = stage.prompt if stage.prompt in JUDGE_PROMPT_NAMES else None
    rules = Path(stage.prompt) if stage.prompt is not None and named is None else None
    return JudgeConfig(run_dir=run_dir, endpoint=stage.endpoint, prompt_name=named, rules=rules,  # type: ignore[arg-type]
                       runs=stage.runs, temperature=stage.temperature, max_retries=stage.max_retries,
                       refresh=stage.refresh, data=data, prices=stage.prices)


def judge_prompt(stage: JudgeStage, run_dir: Path, data: Path, tasks: Sequence[Any]) -> Any:
    """The prompt ``judge`` will use for ``tasks``."""
    from robustbench_mllm.runners.judge import resolve_prompt
    from robustbench_mllm.store.manifest import resolve_protocol

    return resolve_prompt(judge_config(stage, run_dir, data), resolve_protocol(data, None), tasks)


def judge_pending(run_dir: Path, data: Path, stage: JudgeStage) -> bool:
    """Whether an open-ended answer lacks a judgment for some judge run, or the stored ones were
    made with another prompt, judge model, number of runs or temperature."""
    from robustbench_mllm.runners.judge import plan_tasks
    from robustbench_mllm.store.judgments import judgments_of
    from robustbench_mllm.store.results import load_results

    tasks = plan_tasks(run_dir, data, stage.runs).tasks
    if not tasks:
        return False  # nothing open-ended: yes/no and multiple choice are scored by evaluate
    section = load_results(run_dir).get("judge")
    if stage.refresh or not isinstance(section, dict):
        return True
    same = (section.get("prompt", {}).get("id") == judge_prompt(stage, run_dir, data, tasks).describe()["id"]
            and section.get("endpoint", {}).get("model") == stage.endpoint.describe().get("model")
            and section.get("runs") == stage.runs and section.get("temperature") == stage.temperature)
    if not same:
        return True
    judged: set[tuple[str, str, int]] = set()
    for dataset, variant in {(t.item.dataset, t.variant) for t in tasks}:
        judged |= {(variant, str(j["id"]), int(j["run"])) for j in judgments_of(run_dir, dataset, variant)}
    return any((t.variant, t.item.id, t.run) not in judged for t in tasks)


def run_pipeline(config: PipelineConfig, *, text_hook: TextHook | None = None,
                 announce: Callable[[str], None] = lambda _: None) -> list[StageOutcome]:
    """Run what is left of every stage; ``announce(stage)`` is called before a stage does work."""
    from robustbench_mllm.store.layout import MANIFEST

    done: list[StageOutcome] = []
    if generate_pending(config):
        from robustbench_mllm.runners.generate.run import run_generate

        announce(f"generate {config.data}")
        summary = run_generate(config.generate, config.data, text_hook=text_hook)
        written = len(summary.written)
        done.append(StageOutcome("generate", str(config.data), "ran", f"{written} variant{'s' * (written != 1)} written"))
    else:
        done.append(StageOutcome("generate", str(config.data), "up to date"))
    manifest = config.data / MANIFEST
    for model in config.models:
        done += _model_stages(config, model, manifest, announce)
    done.append(_report(config, announce))
    return done


def _model_stages(config: PipelineConfig, model: ModelStages, manifest: Path,
                  announce: Callable[[str], None]) -> list[StageOutcome]:
    from robustbench_mllm.runners.emid import EmidConfig, run_emid
    from robustbench_mllm.runners.evaluate.run import run_evaluate
    from robustbench_mllm.runners.judge import run_judge
    from robustbench_mllm.runners.represent import RepresentConfig, run_represent

    run_dir = model.evaluate.out
    done: list[StageOutcome] = []
    if evaluate_pending(model.evaluate):
        announce(f"evaluate {model.name}")
        outcome = run_evaluate(model.evaluate)
        done.append(StageOutcome("evaluate", model.name, "ran", f"{outcome.generated} answers, {outcome.failed} failed"))
    else:
        done.append(StageOutcome("evaluate", model.name, "up to date"))
    if config.judge is None:
        done.append(StageOutcome("judge", model.name, "not asked"))
    elif judge_pending(run_dir, config.data, config.judge):
        announce(f"judge {model.name}")
        endpoint = config.judge.endpoint.with_environment()
        endpoint.api_key()  # fail before reading any data when no key is configured
        payload = run_judge(replace(judge_config(config.judge, run_dir, config.data), endpoint=endpoint))
        done.append(StageOutcome("judge", model.name, "ran", f"{payload['n_judgments']} judgments"))
    else:
        done.append(StageOutcome("judge", model.name, "up to date"))
    state = read_state(config.output)
    stages: list[tuple[str, bool, dict[str, Any] | None, list[Path], Callable[[], object]]] = [
        ("emid", model.emid, config.emid, [manifest, *run_files(run_dir, judged=False)],
         lambda: run_emid(EmidConfig(run_dir=run_dir, data=config.data, **(config.emid or {})))),
        ("represent", model.represent, config.represent, [manifest],
         lambda: run_represent(RepresentConfig(model=model.evaluate.model, data=config.data, out=run_dir,
                                               adapter=model.evaluate.adapter,
                                               **{"device": model.evaluate.options.device, **(config.represent or {})}))),
    ]
    for stage, asked, settings, inputs, work in stages:
        if not asked:
            done.append(StageOutcome(stage, model.name, "not asked"))
            continue
        key = f"{stage}/{model.name}"
        stamp = fingerprint({"settings": settings, "model": model.evaluate.model, "version": __version__}, inputs)
        if state.get(key) == stamp:
            done.append(StageOutcome(stage, model.name, "up to date"))
            continue
        announce(f"{stage} {model.name}")
        work()
        record_state(config.output, key, stamp)
        done.append(StageOutcome(stage, model.name, "ran"))
    return done


def _report(config: PipelineConfig, announce: Callable[[str], None]) -> StageOutcome:
    from robustbench_mllm.runners.report import ReportConfig, run_report
    from robustbench_mllm.store.layout import MANIFEST

    runs = tuple(config.run_dir(m.name) for m in config.models)
    stage = config.report
    report = ReportConfig(runs=runs, out=stage.out, resamples=stage.resamples, seed=stage.seed, title=stage.title,
                          baseline=config.run_dir(stage.baseline) if stage.baseline else None,
                          allow_mixed_protocols=stage.allow_mixed_protocols,
                          labels=tuple(m.name for m in config.models))  # the config's names label the tables
    files = [config.data / MANIFEST, *(f for run in runs for f in run_files(run))]
    stamp = fingerprint({"report": dataclasses.asdict(report), "version": __version__}, files)
    if read_state(config.output).get("report") == stamp and (stage.out / "report.html").is_file():
        return StageOutcome("report", str(stage.out), "up to date")
    announce(f"report {stage.out}")
    made = run_report(report)
    record_state(config.output, "report", stamp)
    return StageOutcome("report", str(made.html), "ran")
