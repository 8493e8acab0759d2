"""robust-mllm: robustness benchmark suite and perturbation generator for multimodal LLMs."""

__version__ = "0.1.0"
