"""Model adapters, registered by name."""

from robustbench_mllm.models.base import GenerationParams, ModelAdapter, model_registry, register_model

__all__ = ["GenerationParams", "ModelAdapter", "model_registry", "register_model"]
