"""Export lmms-eval task YAMLs for a published suite.

One task per config, all including one shared template (``_default_template_yaml``: no ``.yaml``
suffix, so lmms-eval does not index it as a task), one group per data set whose
``aggregate_metric_list`` makes lmms-eval print the mean over its variants (a suite of several
data sets gets a top group listing them), and ``utils.py``: the task functions with the scoring
code they call, written out of our own modules (``publish.standalone``), so the folder runs in a
plain lmms-eval environment and scores as ``robust-mllm evaluate`` does.

Each task's prompt is the one ``evaluate`` sends for the item under the protocol recorded with
the data (``prompts.prompt_for``): the task's ``lmms_eval_specific_kwargs`` carry the protocol's
suffix as ``post_prompt``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import atomic_write_text
from robustbench_mllm.prompts import DEFAULT_MAX_NEW_TOKENS
from robustbench_mllm.protocols import Protocol
from robustbench_mllm.publish import lmms_eval_utils
from robustbench_mllm.publish.configs import SPLIT, HubConfig, plan_configs
from robustbench_mllm.publish.standalone import Part, bundle
from robustbench_mllm.records import Task
from robustbench_mllm.store.manifest import read_manifest, resolve_protocol

TEMPLATE_FILE = "_default_template_yaml"
UTILS_FILE = "utils.py"
MAX_NEW_TOKENS = DEFAULT_MAX_NEW_TOKENS  # the budget ``evaluate`` gives each task
UTILS_PARTS = (
    Part("robustbench_mllm.prompts", ("LETTERS", "option_letters", "multiple_choice_prompt")),
    Part("robustbench_mllm.protocols", ("ChoiceParser",)),
    Part("robustbench_mllm.metrics.pope"),
    Part("robustbench_mllm.metrics.closed_form"),
    Part("robustbench_mllm.publish.lmms_eval_utils"),
)
UTILS_DOC = """Task functions of the robust-mllm lmms-eval export (written by `robust-mllm export-lmms-eval`).

Self-contained: the scoring code below is robust-mllm's own (metrics.pope, metrics.closed_form,
the prompt builder), copied in at export, so these tasks need nothing but lmms-eval and score
answers exactly as `robust-mllm evaluate` does. Do not edit: export again instead.
"""


@dataclass(frozen=True)
class Exported:
    tasks: tuple[Path, ...]  # one task file per config
    group: str  # what `--tasks` names to run them all


class FunctionRef(str):
    """A YAML ``!function module.name`` reference, as lmms-eval's loader expects."""


def dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):  # a subclass, so the representer stays local to this dump
        pass

    Dumper.add_representer(FunctionRef, lambda d, v: d.represent_scalar("!function", str(v)))
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def _sanitise(text: str) -> str:
    """lmms-eval task names go through ``--tasks a,b``: keep them to ``[a-z0-9_]``."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


def task_name(prefix: str, config: HubConfig) -> str:
    return _sanitise(f"{prefix}_{config.name}")


def config_task_suffix(config: HubConfig) -> str:
    """The part of a task name that names the config (``import-lmms-eval`` matches it)."""
    return _sanitise(config.name)


def utils_source(protocol: Protocol) -> str:
    """The exported module, with the protocol's averaging and parser settings in place."""
    source = bundle(UTILS_PARTS, UTILS_DOC)
    settings = {"SPLIT_AVERAGE": protocol.pope_average, "CHOICE_PARSER": protocol.choice_parser}
    for name, value in settings.items():
        line = next(ln for ln in source.splitlines() if ln.startswith(f"{name} = "))
        source = source.replace(line, f"{name} = {value!r}  # protocol {protocol.name}", 1)
    return source


def template(repo_id: str, protocol: Protocol) -> dict[str, Any]:
    return {
        "dataset_path": repo_id,
        "dataset_kwargs": {"token": True},
        "test_split": SPLIT,
        "output_type": "generate_until",
        "doc_to_visual": FunctionRef("utils.doc_to_visual"),
        "doc_to_text": FunctionRef("utils.doc_to_text"),
        "doc_to_target": "reference_answer",
        "metadata": {"version": 0.0, "source": "robust-mllm export-lmms-eval",
                     "protocol": protocol.name, "protocol_version": protocol.version},
    }


def _generation(task: Task) -> dict[str, Any]:
    # greedy, as evaluate; lmms-eval's default stop string ("\n\n") would cut long answers short
    return {"max_new_tokens": MAX_NEW_TOKENS[task], "temperature": 0, "top_p": 1.0, "num_beams": 1,
            "do_sample": False, "until": ["ASSISTANT:"]}


def _prompt_kwargs(post_prompt: str) -> dict[str, Any]:
    return {"default": {"pre_prompt": "", "post_prompt": post_prompt}}


def _metric(name: str, aggregation: str) -> dict[str, Any]:
    return {"metric": name, "aggregation": FunctionRef(f"utils.{aggregation}"), "higher_is_better": True}


def task(prefix: str, config: HubConfig, kind: Task, protocol: Protocol) -> dict[str, Any]:
    spec: dict[str, Any] = {"include": TEMPLATE_FILE, "task": task_name(prefix, config),
                            "dataset_name": config.name, "generation_kwargs": _generation(kind)}
    if kind == "yes_no":
        spec.update({
            "doc_to_target": "label",
            "lmms_eval_specific_kwargs": _prompt_kwargs(protocol.pope_suffix),
            "process_results": FunctionRef("utils.yes_no_process_results"),
            "metric_list": [_metric(m, f"{m}_aggregate") for m in lmms_eval_utils.YES_NO_METRICS],
        })
    elif kind == "multiple_choice":
        spec.update({
            "doc_to_text": FunctionRef("utils.choice_doc_to_text"),
            "doc_to_target": "label",
            "lmms_eval_specific_kwargs": _prompt_kwargs(protocol.choice_suffix),
            "process_results": FunctionRef("utils.choice_process_results"),
            "metric_list": [_metric("choice_accuracy", "choice_accuracy_aggregate")],
        })
    else:
        spec.update({
            "lmms_eval_specific_kwargs": _prompt_kwargs(""),
            "process_results": FunctionRef("utils.open_ended_process_results"),
            "metric_list": [{"metric": "answered", "aggregation": "mean", "higher_is_better": True}],
        })
    return spec


def group(name: str, members: Sequence[str], metrics: Sequence[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"group": name, "task": list(members)}
    if metrics:
        spec["aggregate_metric_list"] = [{"metric": m, "aggregation": "mean", "weight_by_size": False}
                                         for m in metrics]
    spec["metadata"] = {"version": 0.0}
    return spec


def dataset_tasks(manifest: dict[str, Any], configs: Sequence[HubConfig]) -> dict[str, Task]:
    """Each data set's task, as the manifest records it."""
    listed = manifest.get("datasets") or {}
    kinds: dict[str, Task] = {}
    for dataset in sorted({c.dataset for c in configs}):
        kind = (listed.get(dataset) or {}).get("task", "open_ended")
        if kind not in MAX_NEW_TOKENS:
            raise DataFormatError(f"manifest.json: data set {dataset!r} has task {kind!r}; "
                                  f"expected one of {sorted(MAX_NEW_TOKENS)}")
        kinds[dataset] = kind
    return kinds


def export(generated: Path, repo_id: str, out: Path, prefix: str | None = None,
           protocol: str | None = None) -> Exported:
    """Write the task files into ``out``."""
    configs = plan_configs(generated)
    recipe = resolve_protocol(generated, protocol)
    kinds = dataset_tasks(read_manifest(generated), configs)
    prefix = _sanitise(prefix or repo_id.split("/")[-1])
    names = [task_name(prefix, c) for c in configs]
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise DataFormatError(f"{generated}: configs give the same lmms-eval task name {clash}; rename a data set")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / TEMPLATE_FILE, dump_yaml(template(repo_id, recipe)))
    atomic_write_text(out / UTILS_FILE, utils_source(recipe))
    written: list[Path] = []
    groups: list[str] = []
    for dataset, kind in kinds.items():
        members = [c for c in configs if c.dataset == dataset]
        specs = [task(prefix, c, kind, recipe) for c in members]
        for spec in specs:
            path = out / f"{spec['task']}.yaml"
            atomic_write_text(path, dump_yaml(spec))
            written.append(path)
        metrics = [m["metric"] for m in specs[0]["metric_list"]]
        if len(kinds) == 1:
            atomic_write_text(out / f"{prefix}.yaml", dump_yaml(group(prefix, [s["task"] for s in specs], metrics)))
        else:
            name = _sanitise(f"{prefix}_{dataset}")
            atomic_write_text(out / f"{name}.yaml", dump_yaml(group(name, [s["task"] for s in specs], metrics)))
            groups.append(name)
    if groups:
        atomic_write_text(out / f"{prefix}.yaml", dump_yaml(group(prefix, groups, [])))
    return Exported(tuple(written), prefix)
