"""Pick and load the adapter for ``--model``: from what the folder holds, or as forced by ``--adapter``.

- a folder with bottleneck weights (``bottleneck.safetensors``, ``vittle_config.json`` or
  ``model.bottleneck_layer_*`` keys in its safetensors) -> ``vittle``
- config ``model_type`` ``llava`` -> ``llava-hf``
- config ``model_type`` ``llava_llama`` (LLaVA codebase: LLaVA-1.5, ROSS-llama, LIT) -> ``llava-original``
- not a folder, with ``--base-url`` -> ``openai`` (the name of a served model)
"""

from __future__ import annotations

import json
from pathlib import Path

from robustbench_mllm.errors import DataFormatError, MissingResourceError
from robustbench_mllm.models.base import ModelAdapter
from robustbench_mllm.models.options import LoadOptions

_BOTTLENECK_MARKERS = ("bottleneck.safetensors", "vittle_config.json")
_BOTTLENECK_KEY = "model.bottleneck_layer_v.0.weight"


def _has_bottleneck_keys(folder: Path) -> bool:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return _BOTTLENECK_KEY in json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
    from safetensors import safe_open

    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            if _BOTTLENECK_KEY in handle.keys():
                return True
    return False


def detect_adapter(model: str, base_url: str | None = None) -> str:
    """The adapter name for ``model`` (see the module docstring); a clear error when none fits."""
    folder = Path(model)
    if folder.is_dir():
        if any((folder / marker).is_file() for marker in _BOTTLENECK_MARKERS) or _has_bottleneck_keys(folder):
            return "vittle"
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise DataFormatError(f"{config_path}: missing; is {folder} a model folder?")
        model_type = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
        if model_type == "llava":
            return "llava-hf"
        if model_type == "llava_llama":
            return "llava-original"
        raise DataFormatError(
            f"{config_path}: model_type {model_type!r} has no adapter (llava, llava_llama); "
            "force one with `adapter` or serve the model and use `base_url`"
        )
    if base_url:
        return "openai"
    raise MissingResourceError(
        f"`model` {model!r} is not a local folder; give `base_url` to use it as a served model name"
    )


def load_adapter(model: str, options: LoadOptions, adapter: str | None = None) -> ModelAdapter:
    """Load ``model`` with the named adapter, or the detected one."""
    from robustbench_mllm.registry import load_registry

    name = adapter or detect_adapter(model, options.base_url)
    return load_registry("models").get(name)(model, options)
