"""Token accounting and the editable price table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.llm.usage import Price, UsageMeter, load_prices, price_for


def test_bundled_prices_load_and_prefix_match() -> None:
    prices = load_prices()
    assert price_for("gpt-4o-2024-08-06", prices) == prices["gpt-4o"]
    assert price_for("gpt-4o-mini-2024-07-18", prices) == prices["gpt-4o-mini"]
    assert price_for("my-local-llama", prices) is None


def test_cost_from_user_price_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"_comment": "x", "judge": {"input": 2.0, "output": 10.0}}))
    monkeypatch.setenv("ROBUST_MLLM_PRICES", str(table))
    meter = UsageMeter()
    meter.record("judge", 1_000_000, 100_000)
    meter.record("judge", 500_000, 0)
    meter.record_cache_hit("judge")
    meter.record("other", 10, 10)
    summary = meter.summary()
    assert summary["models"]["judge"] == {
        "requests": 2, "cache_hits": 1, "prompt_tokens": 1_500_000,
        "completion_tokens": 100_000, "estimated_cost_usd": pytest.approx(4.0),
    }
    assert summary["models"]["other"]["estimated_cost_usd"] is None
    assert summary["estimated_cost_usd"] == pytest.approx(4.0)
    assert load_prices(table) == {"judge": Price(2.0, 10.0)}


def test_bad_price_entry_names_file_and_model(tmp_path: Path) -> None:
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"gpt-x": {"input": 1.0}}))
    with pytest.raises(DataFormatError, match="prices.json.*gpt-x"):
        load_prices(table)
