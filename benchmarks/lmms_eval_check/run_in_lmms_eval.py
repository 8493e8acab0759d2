"""Run the exported tasks in a plain lmms-eval environment (no robust-mllm), with a scripted
model, through lmms-eval's own TaskManager, simple_evaluate and EvaluationTracker.

Run with the python of a venv that has lmms-eval (../bench_lmms_eval.py drives it):
    python run_in_lmms_eval.py TASKS_DIR GROUP OUT_DIR
Writes OUT_DIR/check.json (prompts per task and doc, the scripted answers, lmms-eval's results
and group results) and OUT_DIR/logs/<model>/<date>_samples_<task>.jsonl (--log_samples output).
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

try:
    import robustbench_mllm  # noqa: F401

    raise SystemExit("robustbench_mllm is importable here: this check needs a plain lmms-eval environment")
except ModuleNotFoundError:
    pass

from lmms_eval.api.model import lmms
from lmms_eval.evaluator import simple_evaluate
from lmms_eval.loggers import EvaluationTracker
from lmms_eval.tasks import TaskManager
from lmms_eval.utils import make_table

POPE_ANSWERS = ("Yes.", "No", "no, there is not.", "Yes, there is.", "I cannot tell.", "NO")


class ScriptedModel(lmms):
    """Answers from the document index and the task name; loads every image the task gives it."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: dict[str, dict[int, str]] = {}
        self.answers: dict[str, dict[int, str]] = {}

    def generate_until(self, requests):  # noqa: ANN001, ANN201 (lmms-eval's interface)
        out = []
        for request in requests:
            context, _, doc_to_visual, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            images = doc_to_visual(doc)
            assert images and images[0].mode == "RGB", task
            yes_no = doc.get("label") in ("yes", "no")
            answer = POPE_ANSWERS[zlib.crc32(f"{task}/{doc_id}".encode()) % len(POPE_ANSWERS)] if yes_no else f"An answer to {doc_id}."
            self.prompts.setdefault(task, {})[doc_id] = context
            self.answers.setdefault(task, {})[doc_id] = answer
            out.append(answer)
        return out

    def loglikelihood(self, requests):  # noqa: ANN001, ANN201
        raise NotImplementedError

    def generate_until_multi_round(self, requests):  # noqa: ANN001, ANN201
        raise NotImplementedError


def main(tasks_dir: str, group: str, out_dir: str) -> None:
    out = Path(out_dir)
    manager = TaskManager(include_path=tasks_dir)
    model = ScriptedModel()
    tracker = EvaluationTracker(output_path=str(out / "logs"))
    results = simple_evaluate(model=model, tasks=[group], task_manager=manager, log_samples=True,
                              evaluation_tracker=tracker, model_args="pretrained=scripted-model")
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples, datetime_str=tracker.date_id
                                    if hasattr(tracker, "date_id") else "check")
    for task_name in results["configs"]:
        tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    print(make_table(results))
    if "groups" in results:
        print(make_table(results, "groups"))
    check = {"indexed": len(manager.all_tasks), "prompts": model.prompts, "answers": model.answers,
             "results": results["results"], "groups": results.get("groups", {})}
    (out / "check.json").write_text(json.dumps(check, default=str, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:4])
