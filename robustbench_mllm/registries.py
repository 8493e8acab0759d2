"""Import the built-in plug-ins so their decorators run, then hand back a registry by name."""

from __future__ import annotations

import importlib
from typing import Any

from robustbench_mllm.registry import Registry

# registry name -> (module holding the registry, attribute, modules whose import registers entries)
_REGISTRIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "perturbations": ("robustbench_mllm.perturbations.base", "perturbation_registry", ()),
    "sources": ("robustbench_mllm.sources.base", "source_registry", ()),
    "models": ("robustbench_mllm.models.base", "model_registry", ()),
    "judges": ("robustbench_mllm.judges", "judge_registry", ()),
}


def load_registry(name: str) -> Registry[Any]:
    module_name, attribute, plugins = _REGISTRIES[name]
    for plugin in plugins:
        importlib.import_module(plugin)
    return getattr(importlib.import_module(module_name), attribute)
