"""The generate stage: read a suite, write every variant (``run``), planned by ``plan``, with the
perturbed questions from ``texts``, images decoded once (``decoded``) and written per work unit
(``worker``). ``run_generate`` and ``GenerateConfig`` are the entry points."""

from robustbench_mllm.runners.generate.plan import GenerateConfig
from robustbench_mllm.runners.generate.run import GenerateSummary, run_generate

__all__ = ["GenerateConfig", "GenerateSummary", "run_generate"]
