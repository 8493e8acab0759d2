"""`robust-mllm export-lmms-eval`: the task files hold every field lmms-eval needs; the exported
utils.py runs where robust-mllm is not importable and scores, and prompts, exactly as `evaluate`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.prompts import DEFAULT_MAX_NEW_TOKENS, prompt_for
from robustbench_mllm.protocols import get_protocol
from robustbench_mllm.publish.lmms_eval import MAX_NEW_TOKENS
from robustbench_mllm.records import Item
from robustbench_mllm.runners.evaluate.scoring import score_variant, task_of
from robustbench_mllm.store.layout import variant_file
from robustbench_mllm.store.variants import list_variants, read_labelled_items, read_variant_rows

METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")
# answers that trip simpler rules: case, punctuation, hedges, "not" after the first sentence
HARD_ANSWERS = ("Yes.", "No", "NO", "no.", "Yes, there is.", "There is not a dog.", "I cannot tell.",
                "Yes. But not really.", "No, there is no car.", "yes", "Not sure, yes", "")


class _TaskLoader(yaml.SafeLoader):
    """lmms-eval's YAML: ``!function utils.x`` becomes the string ``"!function utils.x"``."""


_TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _load(path: Path) -> dict[str, Any]:
    """A task with its ``include`` resolved as lmms-eval does (the task's keys win)."""
    spec = yaml.load(path.read_text(), Loader=_TaskLoader)
    if "include" in spec:
        base = _load(path.parent / spec.pop("include"))
        spec = {**base, **spec}
    return spec


def _export(generated: Path, out: Path, *extra: str) -> Path:
    result = CliRunner().invoke(app, ["export-lmms-eval", str(generated), "--repo-id", "me/Tiny-Shift",
                                      "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module", params=["vittle", "canonical"])
def exported(request: pytest.FixtureRequest, report_suite: dict[str, Path],
             tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = _export(report_suite["generated"], tmp_path_factory.mktemp(f"lmms_{request.param}"),
                  "--protocol", request.param)
    return out, request.param


def _specs(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    specs = {p.stem: _load(p) for p in folder.glob("*.yaml")}
    tasks = {name: s for name, s in specs.items() if "task" in s and "group" not in s}
    groups = {name: s for name, s in specs.items() if "group" in s}
    assert set(tasks) | set(groups) == set(specs)
    return tasks, groups


def _lmms_eval_kwargs(spec: dict[str, Any], model_name: str = "llava_hf") -> dict[str, Any]:
    """lmms-eval 0.7's choice of ``lmms_eval_specific_kwargs`` (ConfigurableTask.__init__): the
    model's own entry, else the dict updated with its ``default`` entry."""
    kwargs = dict(spec["lmms_eval_specific_kwargs"])
    if model_name in kwargs:
        return kwargs[model_name]
    kwargs.update(kwargs.get("default", {}))
    return kwargs


def test_every_task_and_group_has_what_lmms_eval_requires(exported: tuple[Path, str],
                                                          report_suite: dict[str, Path]) -> None:
    folder, _ = exported
    tasks, groups = _specs(folder)
    variants = list_variants(report_suite["generated"])
    assert len(tasks) == sum(len(v) for v in variants.values())
    functions = set()
    for name, spec in tasks.items():
        assert spec["task"] == name and spec["output_type"] == "generate_until"
        assert spec["dataset_path"] == "me/Tiny-Shift" and spec["test_split"] == "test"
        for key in ("dataset_name", "doc_to_visual", "doc_to_text", "doc_to_target", "process_results",
                    "metric_list", "generation_kwargs", "lmms_eval_specific_kwargs"):
            assert key in spec, (name, key)
        kind = "yes_no" if "pope" in name else "open_ended"
        assert spec["generation_kwargs"]["max_new_tokens"] == DEFAULT_MAX_NEW_TOKENS[kind] == MAX_NEW_TOKENS[kind]
        assert spec["generation_kwargs"]["do_sample"] is False and spec["generation_kwargs"]["temperature"] == 0
        for metric in spec["metric_list"]:
            assert set(metric) == {"metric", "aggregation", "higher_is_better"}
            assert metric["aggregation"] == "mean" or metric["aggregation"].startswith("!function utils.")
        if kind == "yes_no":
            assert [m["metric"] for m in spec["metric_list"]] == list(METRICS)
            assert spec["doc_to_target"] == "label"
        functions |= {v.split(".", 1)[1] for v in _values(spec) if v.startswith("!function ")}
    assert functions <= set(_standalone(folder, {"names": True})["names"])
    # the joint variant's config name keeps its '+'; the task name is lmms-eval safe
    joint = tasks["tiny_shift_tiny_lbcoco_frost_translate_greek_s3"]
    assert joint["dataset_name"] == "tiny_lbcoco-frost+translate_greek_s3"
    # one group per data set printing the mean over its variants, and a top group
    assert groups["tiny_shift"]["task"] == ["tiny_shift_tiny_lbcoco", "tiny_shift_tiny_pope"]
    for dataset in variants:
        group = groups[f"tiny_shift_{dataset}"]
        members = group["task"]
        assert sorted(members) == sorted(n for n in tasks if n.startswith(f"tiny_shift_{dataset}_"))
        produced = {m["metric"] for n in members for m in tasks[n]["metric_list"]}
        aggregated = group["aggregate_metric_list"]
        assert {a["metric"] for a in aggregated} == produced
        assert all(a["aggregation"] == "mean" and a["weight_by_size"] is False for a in aggregated)
    assert not (folder / "_default_template_yaml").with_suffix(".yaml").exists()  # not indexed as a task


def _values(spec: Any) -> list[str]:
    if isinstance(spec, dict):
        return [v for value in spec.values() for v in _values(value)]
    if isinstance(spec, list):
        return [v for value in spec for v in _values(value)]
    return [spec] if isinstance(spec, str) else []


_RUNNER = textwrap.dedent("""
    import importlib.abc, importlib.util, json, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "robustbench_mllm":
                raise ModuleNotFoundError(f"No module named {name!r}")

    sys.meta_path.insert(0, Refuse())
    # the checkout itself leaves sys.path (its .venv, which may live inside it, stays)
    sys.path = [p for p in sys.path if p and p.rstrip("/") != REPO.rstrip("/")]
    try:
        import robustbench_mllm
        raise SystemExit("robustbench_mllm is importable")
    except ModuleNotFoundError:
        pass
    # as lmms-eval's `!function` loader does: by file path, not registered in sys.modules
    spec = importlib.util.spec_from_file_location("utils", FOLDER + "/utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    job = json.load(sys.stdin)
    out = {"names": [n for n in dir(utils) if callable(getattr(utils, n))]}
    out["prompts"] = [getattr(utils, fn)(doc, kwargs) for fn, doc, kwargs in job.get("prompts", [])]
    out["scores"] = {}
    for key, docs in job.get("yes_no", {}).items():
        records = {}
        for doc, answer in docs:
            for metric, value in utils.yes_no_process_results(doc, [answer.strip()]).items():
                records.setdefault(metric, []).append(value)
        out["scores"][key] = {m: getattr(utils, m + "_aggregate")(r) for m, r in records.items()}
    if "visual" in job:
        from PIL import Image
        out["visual"] = utils.doc_to_visual({"image": Image.new("L", (3, 2))})[0].mode
    json.dump(out, sys.stdout)
""")


def _standalone(folder: Path, job: dict[str, Any]) -> dict[str, Any]:
    """Run the exported utils.py in a fresh interpreter that cannot import robustbench_mllm."""
    repo = str(Path(__file__).resolve().parents[2])
    script = f"REPO = {repo!r}\nFOLDER = {str(folder)!r}\n" + _RUNNER
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder)}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(job), capture_output=True, text=True,
                          cwd=folder, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_exported_utils_imports_nothing_of_ours(exported: tuple[Path, str]) -> None:
    folder, _ = exported
    tree = ast.parse((folder / "utils.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported and not any(name.startswith("robustbench_mllm") for name in imported)
    assert _standalone(folder, {"visual": True})["visual"] == "RGB"


def _rows(generated: Path, dataset: str, variant: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "image"}
            for row in read_variant_rows(variant_file(generated, dataset, variant))]


def test_prompt_is_the_one_evaluate_sends_for_every_item(exported: tuple[Path, str],
                                                         report_suite: dict[str, Path]) -> None:
    folder, protocol_name = exported
    protocol = get_protocol(protocol_name)
    generated = report_suite["generated"]
    tasks, _ = _specs(folder)
    job: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    expected: list[str] = []
    for dataset, variants in list_variants(generated).items():
        for variant in variants:
            spec = tasks[f"tiny_shift_{dataset}_{variant}".replace("+", "_")]
            function = spec["doc_to_text"].split(".", 1)[1]
            items = read_labelled_items(generated, dataset, variant)
            kind = task_of(items, variant)
            for row, item in zip(_rows(generated, dataset, variant), items, strict=True):
                job.append((function, row, _lmms_eval_kwargs(spec)))
                expected.append(prompt_for(item, kind, protocol))
    # a multiple-choice item (no such data set in the suite): the same rule, through a made-up task
    choice = Item("m1", "mc", "test", "Which animal?", None, "i1", label="B", choices=("cat", "dog", "cow"))
    job.append(("choice_doc_to_text", {"question": choice.question, "choices": list(choice.choices)},
                {"pre_prompt": "", "post_prompt": protocol.choice_suffix}))
    expected.append(prompt_for(choice, "multiple_choice", protocol))
    rendered = _standalone(folder, {"prompts": job})["prompts"]
    assert rendered == expected  # byte for byte
    pope = [p for p, (_, row, _) in zip(rendered, job) if row.get("label") in ("yes", "no")]
    suffix = "\nAnswer the question using a single word or phrase."
    assert pope and all(p.endswith(suffix) == (protocol_name == "vittle") for p in pope)


def test_pope_scores_equal_evaluate_scoring_on_the_same_answers(exported: tuple[Path, str],
                                                                report_suite: dict[str, Path]) -> None:
    folder, protocol = exported
    generated = report_suite["generated"]
    job: dict[str, list[tuple[dict[str, Any], str]]] = {}
    expected: dict[str, dict[str, float]] = {}
    for variant in list_variants(generated)["tiny_pope"]:
        items = read_labelled_items(generated, "tiny_pope", variant)
        answers = {item.id: HARD_ANSWERS[(i * 7 + len(variant)) % len(HARD_ANSWERS)] for i, item in enumerate(items)}
        job[variant] = [(row, answers[row["id"]]) for row in _rows(generated, "tiny_pope", variant)]
        summary = score_variant(items, answers, "yes_no", get_protocol(protocol))  # what evaluate writes
        expected[variant] = {m: summary["metrics"]["llava"][summary["average"]][m] for m in METRICS}
    scores = _standalone(folder, {"yes_no": job})["scores"]
    for variant, numbers in expected.items():
        assert scores[variant] == pytest.approx(numbers, abs=1e-12), variant
    assert len({json.dumps(s, sort_keys=True) for s in scores.values()}) > 1  # the answers do differ


def test_an_unknown_protocol_is_refused(report_suite: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export-lmms-eval", str(report_suite["generated"]), "--repo-id", "me/x",
                                      "--out", str(tmp_path / "o"), "--protocol", "vitle"])
    assert result.exit_code == 2 and "vittle" in result.output


def test_the_protocol_recorded_with_the_data_is_the_default(report_suite: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    from robustbench_mllm.io_utils import atomic_write_json, read_json

    generated = tmp_path / "gen"
    shutil.copytree(report_suite["generated"], generated)
    manifest = read_json(generated / "manifest.json")
    for name, suffix in (("vittle", get_protocol("vittle").pope_suffix), ("canonical", "")):
        manifest["parameters"]["protocol"] = name
        atomic_write_json(generated / "manifest.json", manifest)
        tasks, _ = _specs(_export(generated, tmp_path / name))
        pope = tasks["tiny_shift_tiny_pope_clean"]
        assert _lmms_eval_kwargs(pope)["post_prompt"] == suffix
        assert pope["metadata"]["protocol"] == name
