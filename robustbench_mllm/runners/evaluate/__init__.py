"""The evaluate stage: answer every item with one model (``run``), score the answers
(``scoring``, ``report``), split the work across machines (``shard``) and join it again
(``merge``). ``run_evaluate`` and ``EvaluateConfig`` are the entry points."""

from robustbench_mllm.runners.evaluate.run import EvaluateConfig, EvaluateOutcome, run_evaluate

__all__ = ["EvaluateConfig", "EvaluateOutcome", "run_evaluate"]
