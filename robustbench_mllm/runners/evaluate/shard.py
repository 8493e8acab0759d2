"""Deterministic sharding of items across machines (``evaluate --shard i/n``, then ``merge``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.records import Item
from robustbench_mllm.seeding import stable_seed


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): an item belongs to it when a stable hash of its id
    is ``index`` modulo ``count``, so every machine computes the same split."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        if not text:
            return cls()
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ConfigError(f"`shard` {text!r}: expected i/n, e.g. 0/4") from None
        if count < 1 or not 0 <= index < count:
            raise ConfigError(f"`shard` {text!r}: need 0 <= i < n (shards are numbered from 0)")
        return cls(index, count)

    def selects(self, item: Item) -> bool:
        return self.count == 1 or stable_seed("shard", item.id) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def select_items(items: Sequence[Item], limit: int | None, shard: Shard) -> tuple[Item, ...]:
    """The first ``limit`` items (all when None) that belong to ``shard``."""
    limited = items[:limit] if limit is not None else items
    return tuple(item for item in limited if shard.selects(item))
