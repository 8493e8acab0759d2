"""evaluate on the tiny LLaVA (CPU): items/s at batch 8 vs batch 1 (target >= 3x), Vittle hook vs
plain inference time (target <= 1.05), and a rerun of a finished run (target < 2 s, 0 generations).

    /work/venv/bin/python benchmarks/bench_evaluate.py [--items 32] [--max-new-tokens 8]
        [--repeats 3] [--hook-repeats 15]

Timings are CPU seconds of a single torch thread. The hook ratio is measured on the 4-layer test
model and on a 32-layer one of the same width (the depth of LLaVA-7B, where one bottleneck MLP sits
beside 32 decoder layers).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fixtures

import torch  # noqa: E402

from robustbench_mllm.models.base import GenerationParams  # noqa: E402
from robustbench_mllm.models.detect import load_adapter  # noqa: E402
from robustbench_mllm.models.options import LoadOptions  # noqa: E402
from robustbench_mllm.runners.evaluate.run import EvaluateConfig, run_evaluate  # noqa: E402
from tests.fixtures.tiny_generated import write_tiny_generated  # noqa: E402
from tests.fixtures.tiny_llava import build_tiny_llava, build_tiny_vittle, sample_batch  # noqa: E402


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """Least CPU time of ``repeats`` runs. torch runs on one thread here, so CPU time is the work
    done, unlike wall time, which the other processes on a shared machine inflate at random."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return min(times)


def throughput(model: Path, data: Path, root: Path, args: argparse.Namespace) -> None:
    adapter = load_adapter(str(model), LoadOptions(device="cpu"))
    rates = {}
    for batch in (1, 8):
        def run(batch: int = batch) -> None:
            out = Path(tempfile.mkdtemp(dir=root))
            config = EvaluateConfig(model=str(model), data=data, out=out, datasets=("tiny_pope",),
                                    variants=("clean",), batch_size=batch, max_new_tokens=args.max_new_tokens)
            assert run_evaluate(config, adapter, show_progress=False).generated == args.items

        rates[batch] = args.items / best_of(args.repeats, run)
        print(f"batch {batch}: {rates[batch]:7.1f} items/s")
    print(f"batch 8 / batch 1 throughput: {rates[8] / rates[1]:.2f}x (target >= 3x)")


def hook_ratio(root: Path, layers: int, args: argparse.Namespace) -> None:
    plain_dir = build_tiny_llava(root / f"plain{layers}", text_layers=layers)
    vittle_dir = build_tiny_vittle(plain_dir, root / f"vittle{layers}", layer_v=layers // 2, layer_t=layers // 2)
    plain = load_adapter(str(plain_dir), LoadOptions(device="cpu"))
    vittle = load_adapter(str(vittle_dir), LoadOptions(device="cpu"))
    batch, params = sample_batch(8), GenerationParams(max_new_tokens=args.max_new_tokens)
    times: dict[str, list[float]] = {"plain": [], "vittle": []}
    for _ in range(args.hook_repeats):  # interleaved, so load changes on the shared machine hit both
        for name, adapter in (("plain", plain), ("vittle", vittle)):
            times[name].append(best_of(1, lambda adapter=adapter: adapter.generate(batch, params)))
    # the minimum is the run least disturbed by the other processes on the machine
    ratio = min(times["vittle"]) / min(times["plain"])
    print(f"vittle hook / plain, {layers} decoder layers: {ratio:.3f} (min of {args.hook_repeats} "
          f"interleaved runs; median ratio {statistics.median(times['vittle']) / statistics.median(times['plain']):.3f}; "
          "target <= 1.05)")


def rerun(model: Path, data: Path, root: Path, args: argparse.Namespace) -> None:
    out = root / "finished"
    config = EvaluateConfig(model=str(model), data=data, out=out, batch_size=8, max_new_tokens=args.max_new_tokens)
    run_evaluate(config, show_progress=False)
    start = time.perf_counter()
    outcome = run_evaluate(config, show_progress=False)  # no adapter given: it must not need one
    elapsed = time.perf_counter() - start
    print(f"rerun of a finished run ({outcome.skipped} items): {elapsed:.2f} s, "
          f"{outcome.generated} generations (target < 2 s, 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hook-repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the shared 2-core machine: one thread gives steadier timings
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_tiny_llava(root / "tiny")
        data = write_tiny_generated(root / "generated", pope_items=args.items)
        throughput(model, data, root, args)
        for layers in (4, 32):
            hook_ratio(root, layers, args)
        rerun(model, data, root, args)


if __name__ == "__main__":
    main()
