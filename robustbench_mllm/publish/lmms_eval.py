"""Export lmms-eval task YAMLs for a published suite: one task per config, all including one
shared template (``_default_template_yaml``, no ``.yaml`` suffix so lmms-eval does not register it
as a task), a group task listing them, and ``utils.py`` with the task functions."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from robustbench_mllm.io_utils import atomic_write_text
from robustbench_mllm.publish.configs import SPLIT, HubConfig, plan_configs
from robustbench_mllm.store.manifest import read_manifest

TEMPLATE_FILE = "_default_template_yaml"
YES_NO_POST_PROMPT = "\nAnswer the question using a single word or phrase."


class FunctionRef(str):
    """A YAML ``!function module.name`` reference, as lmms-eval's loader expects."""


def dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):  # a subclass, so the representer stays local to this dump
        pass

    Dumper.add_representer(FunctionRef, lambda d, v: d.represent_scalar("!function", str(v)))
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def task_name(prefix: str, config: HubConfig) -> str:
    """lmms-eval task names go through ``--tasks a,b``: keep them to ``[a-z0-9_]``."""
    return re.sub(r"[^a-z0-9_]+", "_", f"{prefix}_{config.name}".lower()).strip("_")


def template(repo_id: str) -> dict[str, Any]:
    return {
        "dataset_path": repo_id,
        "dataset_kwargs": {"token": True},
        "test_split": SPLIT,
        "output_type": "generate_until",
        "doc_to_visual": FunctionRef("utils.doc_to_visual"),
        "doc_to_text": FunctionRef("utils.doc_to_text"),
        "doc_to_target": "reference_answer",
        "generation_kwargs": {"max_new_tokens": 1024, "temperature": 0, "top_p": 1.0, "num_beams": 1,
                              "do_sample": False},
        "metadata": {"version": 0.0, "source": "robust-mllm export-lmms-eval"},
    }


def task(prefix: str, config: HubConfig, yes_no: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"include": TEMPLATE_FILE, "task": task_name(prefix, config), "dataset_name": config.name}
    if yes_no:
        spec.update({
            "doc_to_target": "label",
            "generation_kwargs": {"max_new_tokens": 128, "temperature": 0, "top_p": 1.0, "num_beams": 1,
                                  "do_sample": False},
            "lmms_eval_specific_kwargs": {"default": {"pre_prompt": "", "post_prompt": YES_NO_POST_PROMPT}},
            "process_results": FunctionRef("utils.yes_no_process_results"),
            "metric_list": [
                {"metric": "accuracy", "aggregation": "mean", "higher_is_better": True},
                {"metric": "f1", "aggregation": FunctionRef("utils.f1_aggregate"), "higher_is_better": True},
            ],
        })
    else:
        spec.update({
            "process_results": FunctionRef("utils.open_ended_process_results"),
            "metric_list": [{"metric": "answered", "aggregation": "mean", "higher_is_better": True}],
        })
    return spec


def export(generated: Path, repo_id: str, out: Path, prefix: str | None = None) -> list[Path]:
    """Write the task files into ``out``; returns the per-config task files."""
    configs = plan_configs(generated)
    datasets = read_manifest(generated).get("datasets") or {}
    prefix = prefix or re.sub(r"[^a-z0-9_]+", "_", repo_id.split("/")[-1].lower())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / TEMPLATE_FILE, dump_yaml(template(repo_id)))
    shutil.copyfile(Path(__file__).with_name("lmms_eval_utils.py"), out / "utils.py")
    written = []
    for config in configs:
        yes_no = (datasets.get(config.dataset) or {}).get("task") == "yes_no"
        path = out / f"{task_name(prefix, config)}.yaml"
        atomic_write_text(path, dump_yaml(task(prefix, config, yes_no)))
        written.append(path)
    group = {"group": prefix, "task": [task_name(prefix, c) for c in configs]}
    atomic_write_text(out / f"{prefix}.yaml", dump_yaml(group))
    return written
