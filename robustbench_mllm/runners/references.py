"""The references stage (``robust-mllm references DATA --model gpt-4o``): reference answers for the
in-the-wild sets the paper judges against GPT-4o answers (LB-Wild, WV-Bench; its appendix A.4,
no generation code released).

One request per item of the clean variant: the item's image (a PNG data URL) and its question,
no system message, temperature 0, at most 1024 tokens (the paper gives no settings; these match
its judge's). Each answer is the reference for that item in every variant, as LB-COCO's GPT-4
answers are. Every reply is cached as it comes (GENERATED/references/cache.sqlite), so an
interrupted run resumes and a rerun sends nothing; answers and a summary with the cost
(``llm/usage.py``) are written through ``store/references.py``. LB-Wilder keeps its own
reference answers, as the paper does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.imaging import load_rgb
from robustbench_mllm.judges.prompts import GENERATED_REFERENCE_DATASETS
from robustbench_mllm.llm.cache import ResponseCache
from robustbench_mllm.llm.client import ChatRequest, run_chat_many
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.llm.usage import UsageMeter, add_usage, load_prices
from robustbench_mllm.models.openai_chat import chat_messages
from robustbench_mllm.records import Item
from robustbench_mllm.store.layout import references_cache_file
from robustbench_mllm.store.references import ReferenceAnswer, references_summary, write_references
from robustbench_mllm.store.variants import list_variants, load_items

MAX_TOKENS = 1024


@dataclass(frozen=True)
class ReferencesConfig:
    data: Path
    endpoint: ChatEndpoint
    datasets: tuple[str, ...] = ()  # empty: those of GENERATED_REFERENCE_DATASETS present in `data`
    temperature: float = 0.0
    max_tokens: int = MAX_TOKENS
    refresh: bool = False
    prices: Path | None = None


def _datasets(config: ReferencesConfig) -> list[str]:
    present = list_variants(config.data)
    wanted = list(config.datasets) or [name for name in GENERATED_REFERENCE_DATASETS if name in present]
    if not wanted:
        raise ConfigError(f"{config.data}: none of {', '.join(GENERATED_REFERENCE_DATASETS)} here (the data sets "
                          f"judged against generated references; have {', '.join(present) or 'none'}); name "
                          "others in `datasets`")
    missing = [name for name in wanted if "clean" not in present.get(name, [])]
    if missing:
        raise ConfigError(f"{config.data}: no clean variant of `datasets` {', '.join(missing)}")
    return wanted


def _request(item: Item, config: ReferencesConfig) -> ChatRequest:
    from PIL import Image

    image = Image.fromarray(load_rgb(item.image, item_id=item.id))  # type: ignore[arg-type]
    return ChatRequest(messages=chat_messages(image, item.question), temperature=config.temperature,
                       max_tokens=config.max_tokens, key_parts={"purpose": "reference_answer"})


def run_references(config: ReferencesConfig, on_planned: Callable[[int], None] | None = None,
                   on_answer: Callable[[], None] | None = None) -> dict[str, Any]:
    """Generate (or read from the cache) every reference answer; returns the per-dataset summaries."""
    datasets = _datasets(config)
    plans = {name: load_items(config.data, name, "clean") for name in datasets}
    if on_planned is not None:
        on_planned(sum(len(items) for items in plans.values()))
    previous = references_summary(config.data)
    prices = load_prices(config.prices)
    summaries: dict[str, Any] = {}
    with ResponseCache(references_cache_file(config.data)) as cache:
        for name, items in plans.items():
            usage = UsageMeter()
            results = run_chat_many(config.endpoint, [_request(item, config) for item in items], cache=cache,
                                    usage=usage, refresh=config.refresh,
                                    on_result=(lambda *_: on_answer()) if on_answer else None)
            answers = [ReferenceAnswer(item.id, name, config.endpoint.model, str(result.text).strip())
                       for item, result in zip(items, results) if result.ok and str(result.text).strip()]
            this_invocation = usage.summary(prices)
            before = previous.get(name, {}).get("usage_total")
            summaries[name] = {
                "model": config.endpoint.model, "endpoint": config.endpoint.describe(),
                "temperature": config.temperature, "max_tokens": config.max_tokens,
                "prompt": "the item's image and question, no system message",
                "n_items": len(items), "n_answered": len(answers), "n_failed": len(items) - len(answers),
                "failed_ids": _failed(items, answers), "usage": this_invocation,
                "usage_total": add_usage(before, this_invocation) if before else this_invocation,
            }
            write_references(config.data, name, answers, summaries[name])
    return summaries


def _failed(items: Sequence[Item], answers: Sequence[ReferenceAnswer]) -> list[str]:
    answered = {answer.id for answer in answers}
    return [item.id for item in items if item.id not in answered]
