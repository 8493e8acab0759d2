import json
import os
import subprocess
import sys

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import append_jsonl, atomic_write_json, read_jsonl
from robustbench_mllm.seeding import make_rng, stable_seed
from robustbench_mllm.store.results import load_results, update_results


def test_stable_seed_independent_of_pythonhashseed():
    code = "from robustbench_mllm.seeding import stable_seed; print(stable_seed(0, 'frost', 3, 'img'))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": h},
            capture_output=True, text=True, check=True,
        ).stdout
        for h in ("1", "2")
    }
    assert outs == {f"{stable_seed(0, 'frost', 3, 'img')}\n"}
    assert stable_seed(0, "frost", 3, "a") != stable_seed(0, "frost", 3, "b")
    assert make_rng(1, "x").random() == make_rng(1, "x").random()


def test_jsonl_append_and_torn_tail(tmp_path):
    path = tmp_path / "p.jsonl"
    append_jsonl(path, [{"id": "1"}, {"id": "2"}])
    with path.open("a") as handle:
        handle.write('{"id": "3"')  # a write cut short by kill -9
    assert [r["id"] for r in read_jsonl(path, tolerate_torn_tail=True)] == ["1", "2"]
    with pytest.raises(DataFormatError, match=r"p\.jsonl: line 3"):
        list(read_jsonl(path))


def test_results_sections_are_kept(tmp_path):
    update_results(tmp_path, "evaluate", {"a": 1})
    update_results(tmp_path, "judge", {"b": 2})
    data = load_results(tmp_path)
    assert data["evaluate"] == {"a": 1} and data["judge"] == {"b": 2}
    assert data["schema_version"] == 1
    atomic_write_json(tmp_path / "results.json", {"schema_version": 99})
    with pytest.raises(DataFormatError, match="schema_version 99"):
        load_results(tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["schema_version"] == 99
