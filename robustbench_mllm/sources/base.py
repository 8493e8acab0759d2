"""The source protocol: a named reader that yields Items plus data-set metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from robustbench_mllm.records import Item, SourceInfo
from robustbench_mllm.registry import Registry


class Source(Protocol):
    def info(self) -> SourceInfo: ...

    def load(self) -> Iterable[Item]: ...


SourceFactory = Callable[..., Source]
source_registry: Registry[SourceFactory] = Registry("source")


def register_source(name: str) -> Callable[[SourceFactory], SourceFactory]:
    return source_registry.register(name)
