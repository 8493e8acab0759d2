"""The model-adapter protocol: generate answers (and optionally hidden states) for a batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from robustbench_mllm.errors import RemoteError
from robustbench_mllm.registry import Registry


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 1024
    temperature: float = 0.0  # 0 means greedy
    batch_size: int = 1


class PartialGenerationError(RemoteError):
    """Some items of a batch got no answer (e.g. an API call failed after its retries).

    ``answers`` aligns with the batch, None where an item failed; the runner keeps the others and
    a rerun retries the failed ones."""

    def __init__(self, answers: list[str | None], errors: list[str]) -> None:
        super().__init__(f"{len(errors)} item(s) failed: {errors[0] if errors else ''}")
        self.answers = answers
        self.errors = errors


class ModelAdapter(Protocol):
    def generate(
        self, batch: Sequence[tuple[Image.Image, str]], params: GenerationParams
    ) -> list[str]: ...

    def describe(self) -> dict[str, Any]:
        """What results files record about the model (never secrets)."""
        ...


class HiddenStateAdapter(ModelAdapter, Protocol):
    def hidden_states(self, batch: Sequence[tuple[Image.Image, str]], layer: int) -> np.ndarray:
        """(batch, hidden) states of decoder layer ``layer`` at the last input token."""
        ...


AdapterFactory = Callable[..., ModelAdapter]
model_registry: Registry[AdapterFactory] = Registry("model adapter")


def register_model(name: str) -> Callable[[AdapterFactory], AdapterFactory]:
    return model_registry.register(name)
