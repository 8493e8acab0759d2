"""run.json and results.json record the protocol; files written before they did still read."""

from __future__ import annotations

import json
from pathlib import Path

from robustbench_mllm.protocols import CANONICAL, VITTLE
from robustbench_mllm.store.results import load_results, section_protocol, update_results
from robustbench_mllm.store.run_info import run_protocol


def test_a_section_written_under_a_protocol_records_it(tmp_path: Path) -> None:
    update_results(tmp_path, "evaluate", {"datasets": {}}, VITTLE)
    update_results(tmp_path, "represent", {"datasets": {}}, CANONICAL)
    results = load_results(tmp_path)
    assert results["evaluate"]["protocol"] == VITTLE.record()
    assert (results["evaluate"]["protocol"]["name"], results["evaluate"]["protocol"]["version"]) == ("vittle", "1")
    assert section_protocol(results, "evaluate") == "vittle"
    assert section_protocol(results, "represent") == "canonical"


def test_an_old_results_file_reads_as_canonical(tmp_path: Path) -> None:
    old = {"schema_version": 1, "evaluate": {"run": {}, "datasets": {}}, "judge": {"datasets": {}}}
    (tmp_path / "results.json").write_text(json.dumps(old), encoding="utf-8")
    results = load_results(tmp_path)
    assert section_protocol(results, "evaluate") == section_protocol(results, "judge") == "canonical"
    assert section_protocol(results, "emid") == "canonical"  # a section not written at all
    update_results(tmp_path, "judge", {"datasets": {}}, VITTLE)  # the other sections are kept as they were
    assert load_results(tmp_path)["evaluate"] == old["evaluate"]


def test_run_protocol_reads_new_and_old_run_json() -> None:
    assert run_protocol({"protocol": VITTLE.record(), "params": {"protocol": "vittle"}}) == "vittle"
    assert run_protocol({"params": {"protocol": "vittle"}}) == "vittle"  # params only (no record yet)
    assert run_protocol({"params": {"max_new_tokens": None}}) == "canonical"  # before protocols existed
    assert run_protocol({}) == "canonical"


def test_results_carry_how_the_data_was_made(tmp_path: Path) -> None:
    import json

    from robustbench_mllm.protocols import VITTLE
    from robustbench_mllm.store.manifest import generation_record

    assert generation_record(tmp_path) == {}  # no manifest
    made = {"storage": {"format": "jpeg", "quality": 95}, "assets": {"frost": {"source": "derived"}},
            "similarity_filter": {"on": False, "model": None}, "translation_prompt_sha256": "ab" * 32}
    (tmp_path / "manifest.json").write_text(json.dumps({"protocol": {**VITTLE.record(), **made}}))
    assert generation_record(tmp_path) == made  # the protocol's own fields are in the section's protocol record
