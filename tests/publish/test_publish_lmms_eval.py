"""`robust-mllm export-lmms-eval`: one task per config including a shared template, and the task
functions scoring yes/no answers with the evaluate stage's rule."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.store.variants import list_variants


class _TaskLoader(yaml.SafeLoader):
    """Reads lmms-eval YAML: ``!function utils.x`` becomes the string ``"!function utils.x"``."""


_TaskLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def _load(path: Path) -> dict[str, Any]:
    """A task with its ``include`` resolved the way lmms-eval does (the task's keys win)."""
    spec = yaml.load(path.read_text(), Loader=_TaskLoader)
    if "include" in spec:
        base = _load(path.parent / spec.pop("include"))
        spec = {**base, **spec}
    return spec


@pytest.fixture(scope="module")
def exported(report_suite: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lmms_eval")
    result = CliRunner().invoke(app, ["export-lmms-eval", str(report_suite["generated"]), "--repo-id",
                                      "me/Tiny-Shift", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _utils(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("exported_utils", folder / "utils.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_task_per_config_all_including_the_template(exported: Path, report_suite: dict[str, Path]) -> None:
    variants = list_variants(report_suite["generated"])
    tasks = {p.stem: _load(p) for p in exported.glob("*.yaml") if p.stem != "tiny_shift"}
    assert len(tasks) == sum(len(v) for v in variants.values())
    joint = tasks["tiny_shift_tiny_lbcoco_frost_translate_greek_s3"]
    assert joint["dataset_path"] == "me/Tiny-Shift" and joint["test_split"] == "test"
    assert joint["dataset_name"] == "tiny_lbcoco-frost+translate_greek_s3"
    assert joint["doc_to_visual"] == "!function utils.doc_to_visual"
    pope = tasks["tiny_shift_tiny_pope_frost_s5"]
    assert pope["process_results"] == "!function utils.yes_no_process_results"
    assert [m["metric"] for m in pope["metric_list"]] == ["accuracy", "f1"]
    assert all(yaml.safe_load((exported / f"{name}.yaml").read_text().split("\n")[0])["include"]
               == "_default_template_yaml" for name in tasks)
    group = yaml.safe_load((exported / "tiny_shift.yaml").read_text())
    assert sorted(group["task"]) == sorted(tasks)


def test_task_functions_score_like_the_evaluate_stage(exported: Path) -> None:
    utils = _utils(exported)
    doc = {"id": "1", "split": "random", "label": "yes", "question": "Is there a dog?",
           "image": Image.new("L", (4, 4))}
    assert utils.doc_to_visual(doc)[0].mode == "RGB"
    assert utils.doc_to_text(doc, {"pre_prompt": "", "post_prompt": " Answer."}) == "Is there a dog? Answer."
    yes = utils.yes_no_process_results(doc, ["Yes."])  # lmms-eval's stock exact match marks "Yes." wrong
    no = utils.yes_no_process_results({**doc, "label": "no", "split": "adversarial"}, ["Yes, there is."])
    assert yes["accuracy"] == 1.0 and no["accuracy"] == 0.0
    assert utils.f1_aggregate([yes["f1"], no["f1"]]) == pytest.approx((1.0 + 0.0) / 2)
