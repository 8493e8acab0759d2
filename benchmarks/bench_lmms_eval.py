"""The exported sample suite in a real, plain lmms-eval, end to end (a manual check, not a test:
lmms-eval is heavy and not a dependency of ours).

    python -m venv /tmp/lmms-venv && /tmp/lmms-venv/bin/pip install lmms-eval==0.7.3
    python benchmarks/bench_lmms_eval.py --lmms-python /tmp/lmms-venv/bin/python

Generates the sample suite, stages its publication (``publish --dry-run``), exports the lmms-eval
tasks, points them at the staged folder (a local copy of the Hub repo), and runs
``lmms_eval_check/run_in_lmms_eval.py`` with the lmms-eval venv's python: lmms-eval's
``TaskManager`` indexes the tasks, ``simple_evaluate`` loads every document and image, asks a
scripted model, scores with the exported ``utils.py`` and prints the group means; its
``--log_samples`` files are written by lmms-eval's own ``EvaluationTracker``. Back here it checks:
every prompt lmms-eval built is byte for byte what ``evaluate`` sends; every POPE metric equals
``evaluate``'s scoring of the same answers; each group's value is the mean over its tasks; and
``import-lmms-eval`` of the logged samples reproduces the same numbers in a run folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.prompts import prompt_for
from robustbench_mllm.publish.configs import plan_configs
from robustbench_mllm.publish.lmms_eval import TEMPLATE_FILE, task_name
from robustbench_mllm.runners.evaluate.scoring import score_variant, task_of
from robustbench_mllm.store.manifest import resolve_protocol
from robustbench_mllm.store.variants import load_items

METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")


def _cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    if result.exit_code != 0:
        raise SystemExit(f"robust-mllm {args[0]} failed:\n{result.output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lmms-python", required=True, help="python of a venv with lmms-eval (and not robust-mllm)")
    parser.add_argument("--perturbations", default="frost,gaussian_noise,char_typo,frost+char_typo")
    parser.add_argument("--work", type=Path, default=None, help="keep the files here (default: a temp folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-lmms-eval-"))
    generated, staged, tasks, out = (work / n for n in ("generated", "staged", "tasks", "lmms"))
    started = time.perf_counter()
    _cli("generate", "--suite", "sample", "--severity", "3", "--perturbations", args.perturbations,
         "--out", str(generated))
    _cli("publish", str(generated), "--repo-id", "me/sample-shift", "--dry-run", str(staged))
    _cli("export-lmms-eval", str(generated), "--repo-id", "me/sample-shift", "--out", str(tasks))
    template = tasks / TEMPLATE_FILE
    text = template.read_text().replace("dataset_path: me/sample-shift", f"dataset_path: {staged}")
    template.write_text(text.replace("dataset_kwargs:\n  token: true\n", ""))  # a local copy needs no token
    out.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(work / "hf")}
    script = Path(__file__).with_name("lmms_eval_check") / "run_in_lmms_eval.py"
    lmms = subprocess.run([args.lmms_python, str(script), str(tasks), "sample_shift", str(out)], env=env,
                          cwd=work, capture_output=True, text=True)
    print(lmms.stdout[-6000:])
    if lmms.returncode != 0:
        raise SystemExit(f"lmms-eval run failed:\n{lmms.stderr[-4000:]}")
    check = json.loads((out / "check.json").read_text())
    protocol = resolve_protocol(generated, None)
    prompts = mismatched = compared = 0
    group_checks = []
    by_dataset: dict[str, list[dict[str, float]]] = {}
    for config in plan_configs(generated):
        name = task_name("sample_shift", config)
        items = load_items(generated, config.dataset, config.variant)
        kind = task_of(items, config.name)
        rendered = {int(k): v for k, v in check["prompts"][name].items()}
        answers = {items[int(k)].id: v for k, v in check["answers"][name].items()}
        for doc_id, item in enumerate(items):
            prompts += 1
            mismatched += rendered[doc_id] != prompt_for(item, kind, protocol)
        if kind == "yes_no":
            scored = score_variant(items, answers, kind, protocol)
            ours = scored["metrics"]["llava"][scored["average"]]
            theirs = check["results"][name]
            for metric in METRICS:
                compared += 1
                assert abs(theirs[f"{metric},none"] - ours[metric]) < 1e-12, (name, metric, theirs, ours)
            by_dataset.setdefault(config.dataset, []).append({m: theirs[f"{m},none"] for m in METRICS})
    for dataset, rows in by_dataset.items():
        group = check["results"].get(f"sample_shift_{dataset}") or check["groups"].get(f"sample_shift_{dataset}")
        mean = sum(r["accuracy"] for r in rows) / len(rows)
        group_checks.append((dataset, group["accuracy,none"], mean))
        assert abs(group["accuracy,none"] - mean) < 1e-12
    samples = sorted((out / "logs").glob("*/*_samples_*.jsonl"))
    run = work / "run"
    _cli("import-lmms-eval", *map(str, samples), "--data", str(generated), "--out", str(run))
    imported = read_json(run / "results.json")["evaluate"]["datasets"]
    for config in plan_configs(generated):
        name = task_name("sample_shift", config)
        summary = imported[config.dataset][config.variant]
        if summary["task"] == "yes_no":
            for metric in METRICS:
                ours = summary["metrics"]["llava"][summary["average"]][metric]
                assert abs(ours - check["results"][name][f"{metric},none"]) < 1e-12
        assert summary["answered"] == summary["items"], name
    print(f"lmms-eval indexed {check['indexed']} tasks/groups; {len(plan_configs(generated))} tasks run")
    print(f"prompts compared: {prompts}, differing from evaluate's: {mismatched}")
    print(f"POPE metrics compared with evaluate's scoring: {compared}, all equal (|diff| < 1e-12)")
    for dataset, theirs, mean in group_checks:
        print(f"group sample_shift_{dataset}: accuracy {theirs:.6f} = mean over its tasks {mean:.6f}")
    print(f"import-lmms-eval: {len(samples)} samples files -> {run}, numbers equal lmms-eval's")
    print(f"wall time {time.perf_counter() - started:.1f} s; files in {work}")
    if mismatched:
        sys.exit(1)


if __name__ == "__main__":
    main()
