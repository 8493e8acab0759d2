"""The YAML file of ``robust-mllm run CONFIG.yaml``: read, checked, resolved into the stage configs.

Every key maps onto a field of a stage's own config record (``GenerateConfig``, ``EvaluateConfig``
+ ``LoadOptions``, ``ChatEndpoint``, ``EmidConfig``, ``RepresentConfig``), so the file accepts
exactly what the commands accept, with the same defaults. Every mistake is found in one pass and
reported on its own line: the file, the key, and what to do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.models.options import LoadOptions
from robustbench_mllm.runners.config_fields import Mistakes, plain, record_fields
from robustbench_mllm.runners.emid import EmidConfig
from robustbench_mllm.runners.evaluate.run import EvaluateConfig
from robustbench_mllm.runners.generate.plan import GenerateConfig, parse_severities
from robustbench_mllm.runners.represent import RepresentConfig

# a judge prompt by name (the paper's downloaded rules, our own wording); else a rule.json path
JUDGE_PROMPT_NAMES = ("llava_rules", "robust-mllm")
# Keys a section takes from each record: the record's fields minus those the pipeline sets itself.
GENERATE_KEYS = {f.name for f in fields(GenerateConfig)} - {"severities"}
EVALUATE_KEYS = {"batch_size", "max_new_tokens", "temperature", "limit", "variants", "datasets"}
OPTION_KEYS = {f.name for f in fields(LoadOptions)}
ENDPOINT_KEYS = {f.name for f in fields(ChatEndpoint)}
JUDGE_KEYS = {"runs", "temperature", "max_retries", "prompt", "prices", "refresh"}
EMID_KEYS = {f.name for f in fields(EmidConfig)} - {"run_dir", "data", "train_on", "training"}
REPRESENT_KEYS = {f.name for f in fields(RepresentConfig)} - {"model", "data", "out", "adapter", "protocol"}
REPORT_KEYS = {"baseline", "resamples", "seed", "title", "allow_mixed_protocols"}
TOP_KEYS = {*GENERATE_KEYS, "severities", "output", "data", "models", "judge", "emid", "represent", "report"}
MODEL_KEYS = {"name", "path", "adapter", "options", "emid", "represent"}


@dataclass(frozen=True)
class ModelStages:
    name: str
    evaluate: EvaluateConfig
    emid: bool
    represent: bool


@dataclass(frozen=True)
class JudgeStage:
    endpoint: ChatEndpoint
    runs: int = 3
    temperature: float = 0.0
    max_retries: int = 3
    prompt: str | None = None  # None: the protocol's
    prices: Path | None = None
    refresh: bool = False


@dataclass(frozen=True)
class ReportStage:
    out: Path
    baseline: str | None = None  # a model name
    resamples: int = 2000
    seed: int = 0
    title: str = "robust-mllm report"
    allow_mixed_protocols: bool = False


@dataclass(frozen=True)
class PipelineConfig:
    source_file: Path
    output: Path
    data: Path
    generate: GenerateConfig
    models: tuple[ModelStages, ...]
    judge: JudgeStage | None
    emid: dict[str, Any] | None  # EmidConfig fields
    represent: dict[str, Any] | None  # RepresentConfig fields
    report: ReportStage

    def run_dir(self, model: str) -> Path:
        return self.output / "runs" / model

    def describe(self) -> dict[str, Any]:
        """The resolved config, defaults filled in, as plain YAML-able values."""
        return plain({
            "config": self.source_file, "output": self.output, "data": self.data,
            "generate": dataclasses.asdict(self.generate),
            "models": [{"name": m.name, "path": m.evaluate.model, "adapter": m.evaluate.adapter,
                        "run": self.run_dir(m.name), "emid": m.emid, "represent": m.represent,
                        "evaluate": {k: getattr(m.evaluate, k) for k in sorted(EVALUATE_KEYS)},
                        "options": dataclasses.asdict(m.evaluate.options)} for m in self.models],
            "judge": dataclasses.asdict(self.judge) if self.judge else None,
            "emid": self.emid, "represent": self.represent, "report": dataclasses.asdict(self.report),
        })


def _section(raw: Mapping[str, Any], key: str, mistakes: Mistakes) -> dict[str, Any] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        mistakes.add(key, "expected a mapping of settings (key: value lines indented under it)")
        return None
    return value


def _model(raw: Any, index: int, mistakes: Mistakes, base: Path, data: Path, output: Path) -> ModelStages | None:
    where = f"models[{index}]"
    if not isinstance(raw, dict):
        mistakes.add(where, "expected a mapping with at least `path` (a model folder or served name)")
        return None
    mistakes.unknown(raw, MODEL_KEYS, f"{where}.")
    path = raw.get("path")
    if not isinstance(path, str) or not path:
        mistakes.add(f"{where}.path", "required: the model folder (or served model name with `base_url`)")
        path = ""  # the rest is still checked, so every mistake shows at once
    folder = base / path
    model = str(folder) if folder.exists() else path  # a folder relative to the config, or a served name
    name = str(raw.get("name") or Path(path.rstrip("/")).name)
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        mistakes.add(f"{where}.options", "expected a mapping of evaluate settings")
        options = {}
    mistakes.unknown(options, OPTION_KEYS | EVALUATE_KEYS, f"{where}.options.")
    settings = dict(options)
    load = record_fields(LoadOptions, settings, OPTION_KEYS, f"{where}.options.", mistakes, base)
    evaluate = record_fields(EvaluateConfig, settings, EVALUATE_KEYS, f"{where}.options.", mistakes, base)
    adapter = raw.get("adapter")
    try:
        config = EvaluateConfig(model=model, data=data, out=output / "runs" / name,
                                adapter=str(adapter) if adapter else None, options=LoadOptions(**load), **evaluate)
    except ConfigError as exc:
        mistakes.add(f"{where}.options", str(exc))
        return None
    flags = {key: raw.get(key, False) for key in ("emid", "represent")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            mistakes.add(f"{where}.{key}", "expected true or false (run this stage for this model?)")
    return ModelStages(name, config, flags["emid"] is True, flags["represent"] is True) if path else None


def load_pipeline_config(path: Path) -> PipelineConfig:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise ConfigError(f"{path}: {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings (suite:, models:, output: ...)")
    return resolve(raw, path)


def resolve(raw: dict[str, Any], path: Path) -> PipelineConfig:
    mistakes = Mistakes(path)
    base = path.parent.resolve()
    mistakes.unknown(raw, TOP_KEYS, "")
    output = raw.get("output")
    if not isinstance(output, str) or not output:
        mistakes.add("output", "required: the folder for the generated suite, the runs and the report")
        output = "."
    out = (base / output).resolve()
    data = (base / str(raw["data"])).resolve() if raw.get("data") else out / "generated"
    generate = record_fields(GenerateConfig, raw, GENERATE_KEYS, "", mistakes, base)
    severities = raw.get("severities", 3)
    try:
        generate["severities"] = parse_severities(",".join(map(str, severities)) if isinstance(severities, list)
                                                  else str(severities))
    except ConfigError as exc:
        mistakes.add("severities", str(exc).replace("`severity` ", ""))
    if isinstance(generate.get("perturbations"), tuple):
        generate["perturbations"] = ",".join(generate["perturbations"])
    models: list[ModelStages] = []
    entries = raw.get("models")
    if not isinstance(entries, list) or not entries:
        mistakes.add("models", "required: a list of models, each with `path` (and optional name, adapter, options)")
        entries = []
    for index, entry in enumerate(entries):
        made = _model(entry, index, mistakes, base, data, out)
        if made is not None:
            models.append(made)
    names = [m.name for m in models]
    for name in sorted({n for n in names if names.count(n) > 1}):
        mistakes.add("models", f"two models are named {name!r}; give each a distinct `name` (its run folder)")
    judge = _judge(_section(raw, "judge", mistakes), mistakes, base)
    stages = {}
    for key, record, keys in (("emid", EmidConfig, EMID_KEYS), ("represent", RepresentConfig, REPRESENT_KEYS)):
        section = _section(raw, key, mistakes)
        if section is not None:
            mistakes.unknown(section, keys, f"{key}.")
        stages[key] = record_fields(record, section, keys, f"{key}.", mistakes, base) if section is not None else None
    report_raw = _section(raw, "report", mistakes) or {}
    mistakes.unknown(report_raw, REPORT_KEYS, "report.")
    report = record_fields(ReportStage, report_raw, REPORT_KEYS, "report.", mistakes, base)
    if report.get("baseline") is not None and report["baseline"] not in names:
        mistakes.add("report.baseline", f"{report['baseline']!r} is not a model name; one of {', '.join(names)}")
    if mistakes.lines:
        raise ConfigError("\n".join(mistakes.lines))
    try:
        generate_config = GenerateConfig(**generate)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return PipelineConfig(path.resolve(), out, data, generate_config, tuple(models), judge, stages["emid"],
                          stages["represent"], ReportStage(out=out / "report", **report))


def _judge(section: dict[str, Any] | None, mistakes: Mistakes, base: Path) -> JudgeStage | None:
    if section is None:
        return None
    mistakes.unknown(section, ENDPOINT_KEYS | JUDGE_KEYS, "judge.")
    endpoint = record_fields(ChatEndpoint, section, ENDPOINT_KEYS, "judge.", mistakes, base)
    settings = record_fields(JudgeStage, section, JUDGE_KEYS, "judge.", mistakes, base)
    prompt = settings.get("prompt")
    if prompt is not None and prompt not in JUDGE_PROMPT_NAMES:
        rules = Path(prompt) if Path(prompt).is_absolute() else base / prompt
        if not rules.is_file():
            mistakes.add("judge.prompt", f"{rules}: no such file; give a rule.json path or one of "
                         f"{', '.join(JUDGE_PROMPT_NAMES)}")
        settings["prompt"] = str(rules)
    return JudgeStage(endpoint=ChatEndpoint(**endpoint), **settings)
