"""A small typed name -> factory registry shared by perturbations, sources, models and judges,
and ``load_registry``, which imports the built-in plug-ins so their decorators run."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from robustbench_mllm.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (usually factories or singletons) of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@registry.register("frost")``. Re-registering a name is an error."""

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(self._entries))
            raise UnknownNameError(f"unknown {self.kind} {name!r}.{hint} Known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        yield from sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


# registry name -> (module holding the registry, attribute, modules whose import registers entries)
_REGISTRIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "perturbations": (
        "robustbench_mllm.perturbations.base",
        "perturbation_registry",
        ("robustbench_mllm.perturbations.visual", "robustbench_mllm.perturbations.text"),
    ),
    "sources": (
        "robustbench_mllm.sources.base",
        "source_registry",
        (
            "robustbench_mllm.sources.sample",
            "robustbench_mllm.sources.llava_qa90",
            "robustbench_mllm.sources.pope",
            "robustbench_mllm.sources.hub",
            "robustbench_mllm.sources.published_shift",
            "robustbench_mllm.sources.closed_form",
            "robustbench_mllm.sources.long_tail",
        ),
    ),
    "models": (
        "robustbench_mllm.models.base",
        "model_registry",
        (
            "robustbench_mllm.models.llava_hf",
            "robustbench_mllm.models.llava_original",
            "robustbench_mllm.models.openai_chat",
            "robustbench_mllm.models.vittle",
        ),
    ),
    "judges": ("robustbench_mllm.judges", "judge_registry", ()),
    "protocols": ("robustbench_mllm.protocols", "protocol_registry", ()),
}


def load_registry(name: str) -> Registry[Any]:
    module_name, attribute, plugins = _REGISTRIES[name]
    for plugin in plugins:
        importlib.import_module(plugin)
    return getattr(importlib.import_module(module_name), attribute)
