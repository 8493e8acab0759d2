"""Import the built-in plug-ins so their decorators run, then hand back a registry by name."""

from __future__ import annotations

import importlib
from typing import Any

from robustbench_mllm.registry import Registry

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
}


def load_registry(name: str) -> Registry[Any]:
    module_name, attribute, plugins = _REGISTRIES[name]
    for plugin in plugins:
        importlib.import_module(plugin)
    return getattr(importlib.import_module(module_name), attribute)
