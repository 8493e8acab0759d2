"""``python -m robustbench_mllm.train ...``: the ``train`` command for multi-GPU launchers."""

from robustbench_mllm.train.cli import main

main()
