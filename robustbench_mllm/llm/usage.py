"""Token usage per model and an estimated cost from an editable price table (prices.json)."""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_json

DEFAULT_PRICES = Path(__file__).with_name("prices.json")
PRICES_ENV = "ROBUST_MLLM_PRICES"


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float
    output: float


@dataclass
class ModelUsage:
    """Billed requests (every attempt that returned a body) and their tokens; cache hits apart."""

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def load_prices(path: Path | None = None) -> dict[str, Price]:
    """The price table at ``path``, else $ROBUST_MLLM_PRICES, else the bundled prices.json."""
    path = Path(path or os.environ.get(PRICES_ENV) or DEFAULT_PRICES)
    table: dict[str, Price] = {}
    for model, entry in read_json(path).items():
        if model.startswith("_"):
            continue  # comments
        try:
            table[model] = Price(float(entry["input"]), float(entry["output"]))
        except (TypeError, KeyError, ValueError):
            raise DataFormatError(
                f"{path}: model {model!r}: expected {{\"input\": USD, \"output\": USD}} per 1M tokens"
            ) from None
    return table


def price_for(model: str, prices: dict[str, Price]) -> Price | None:
    """Exact name, else the longest listed prefix (dated snapshots share their family's price)."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


class UsageMeter:
    """Thread-safe accumulator shared by every request of a command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[str, ModelUsage] = {}

    def _entry(self, model: str) -> ModelUsage:
        return self._by_model.setdefault(model, ModelUsage())

    def record(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            entry = self._entry(model)
            entry.requests += 1
            entry.prompt_tokens += prompt_tokens
            entry.completion_tokens += completion_tokens

    def record_cache_hit(self, model: str) -> None:
        with self._lock:
            self._entry(model).cache_hits += 1

    def by_model(self) -> dict[str, ModelUsage]:
        with self._lock:
            return {model: ModelUsage(**asdict(usage)) for model, usage in self._by_model.items()}

    def summary(self, prices: dict[str, Price] | None = None) -> dict[str, Any]:
        """Per-model usage with ``estimated_cost_usd`` (None for a model missing from the table)."""
        prices = load_prices() if prices is None else prices
        models: dict[str, Any] = {}
        total = 0.0
        for model, usage in sorted(self.by_model().items()):
            price = price_for(model, prices)
            cost = None
            if price is not None:
                cost = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6
                total += cost
            models[model] = {**asdict(usage), "estimated_cost_usd": cost}
        return {"models": models, "estimated_cost_usd": round(total, 6)}


USAGE_COUNTS = ("requests", "cache_hits", "prompt_tokens", "completion_tokens")


def add_usage(total: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Two ``UsageMeter.summary()`` dicts added per model; a model's cost stays None (unpriced)
    when either side lacks it, and the overall cost sums the priced models, as ``summary`` does."""
    models: dict[str, Any] = {}
    for model in sorted({*total["models"], *new["models"]}):
        mine, theirs = total["models"].get(model), new["models"].get(model)
        if mine is None or theirs is None:
            models[model] = dict(mine or theirs)
            continue
        costs = (mine["estimated_cost_usd"], theirs["estimated_cost_usd"])
        models[model] = {**{key: mine[key] + theirs[key] for key in USAGE_COUNTS},
                         "estimated_cost_usd": None if None in costs else costs[0] + costs[1]}
    cost = sum(m["estimated_cost_usd"] for m in models.values() if m["estimated_cost_usd"] is not None)
    return {"models": models, "estimated_cost_usd": round(cost, 6)}
