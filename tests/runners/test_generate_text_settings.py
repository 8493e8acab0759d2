"""Generate's text settings on the sample suite: the EDA similarity filter (on with
``--similarity-model``, off without, refused where the protocol has none) and the translation
prompt's hash, in the manifest and the summary lines."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.perturbations.text.translation_prompt import DEFAULT_PROMPT
from robustbench_mllm.store.variants import load_items

ARGS = ["generate", "--perturbations", "word_swap,translate_greek", "--limit", "2"]


def test_filter_on_with_a_model_and_the_prompt_hash_recorded(tmp_path: Path, tiny_xlmr_dir: Path) -> None:
    prompt = tmp_path / "readme_prompt.txt"
    prompt.write_text("You are a helpful translator. Translate the English sentence into {TARGET_LANGUAGE}.\n")
    out = tmp_path / "on"
    result = CliRunner().invoke(app, [*ARGS, "--similarity-model", str(tiny_xlmr_dir),
                                      "--translation-prompt", str(prompt), "--out", str(out)])
    assert result.exit_code == 0, result.output
    parameters = read_json(out / "manifest.json")["parameters"]
    assert parameters["protocol"] == "vittle"
    assert parameters["similarity_model"] == str(tiny_xlmr_dir) and parameters["similarity_filter"] is True
    assert parameters["translation_prompt_sha256"] == hashlib.sha256(prompt.read_bytes()).hexdigest()
    assert "similarity filter on" in result.output and "readme_prompt.txt" in result.output
    questions = [item.question for item in load_items(out, "sample_lbcoco", "word_swap_s3")]
    assert all(q == q.lower() and "?" not in q for q in questions)  # EDA's cleaning


def test_filter_off_without_a_model_and_refused_for_canonical(tmp_path: Path) -> None:
    out = tmp_path / "off"
    result = CliRunner().invoke(app, [*ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    parameters = read_json(out / "manifest.json")["parameters"]
    assert parameters["similarity_model"] is None and parameters["similarity_filter"] is False
    assert parameters["translation_prompt_sha256"] == DEFAULT_PROMPT.sha256
    assert "similarity filter off" in result.output
    refused = CliRunner().invoke(app, [*ARGS, "--protocol", "canonical", "--similarity-model", "x",
                                       "--out", str(tmp_path / "refused")])
    assert refused.exit_code == 2 and "similarity-model" in refused.output and "canonical" in refused.output
