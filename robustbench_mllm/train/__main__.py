"""``python -m robustbench_mllm.train ...``: the ``train`` command for multi-GPU launchers."""

from robustbench_mllm.cli.train import main

main()
