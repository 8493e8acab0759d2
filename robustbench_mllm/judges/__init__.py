"""Relative-preference judges. ``judge_registry`` maps a name to a judge class."""

from __future__ import annotations

from typing import Any

from robustbench_mllm.registry import Registry

judge_registry: Registry[Any] = Registry("judge")


@judge_registry.register("relative_preference")
def relative_preference_judge(*args: Any, **kwargs: Any) -> Any:
    """LLaVA-Bench relative preference: GPT-4o scores reference vs model answer (1-10 each)."""
    from robustbench_mllm.judges.judge import RelativePreferenceJudge

    return RelativePreferenceJudge(*args, **kwargs)
