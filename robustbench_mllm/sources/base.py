"""The source protocol: a named reader that yields Items plus data-set metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from robustbench_mllm.records import Item
from robustbench_mllm.registry import Registry


@dataclass(frozen=True)
class SourceInfo:
    """Data-set level metadata that travels into manifests and dataset cards."""

    dataset: str
    task: str  # "open_ended" | "yes_no" | "multiple_choice"
    license: str = "unknown"
    citation: str = ""
    homepage: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    def info(self) -> SourceInfo: ...

    def load(self) -> Iterable[Item]: ...


SourceFactory = Callable[..., Source]
source_registry: Registry[SourceFactory] = Registry("source")


def register_source(name: str) -> Callable[[SourceFactory], SourceFactory]:
    return source_registry.register(name)
