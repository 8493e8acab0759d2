"""Judge throughput: 90 items x 3 runs against the loopback server (200 ms per request),
concurrency 16 vs 1 (target >= 10x), then a rerun that must send 0 requests.

    /work/venv/bin/python benchmarks/bench_judge.py [--latency 0.2] [--items 90] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fixtures

from robustbench_mllm.judges.prompts import own_prompt  # noqa: E402
from robustbench_mllm.llm.settings import ChatEndpoint  # noqa: E402
from robustbench_mllm.records import VariantSpec  # noqa: E402
from robustbench_mllm.runners.judge import JudgeConfig, run_judge  # noqa: E402
from tests.fixtures.fake_openai import FakeOpenAIServer  # noqa: E402
from tests.fixtures.judge_run import build_judge_run  # noqa: E402


def timed_judge(root: Path, server: FakeOpenAIServer, concurrency: int, items: int, runs: int) -> tuple[float, int]:
    """Seconds for a fresh judge pass and the number of requests it sent."""
    run = build_judge_run(root, n_items=items, variants=(VariantSpec(),))
    endpoint = ChatEndpoint(model="gpt-4o", base_url=server.base_url, concurrency=concurrency)
    config = JudgeConfig(run_dir=run, endpoint=endpoint, prompt=own_prompt(), runs=runs)
    before = len(server.requests)
    start = time.perf_counter()
    payload = run_judge(config)
    seconds = time.perf_counter() - start
    assert payload["n_failed"] == 0 and payload["n_judgments"] == items * runs
    return seconds, len(server.requests) - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--items", type=int, default=90)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer(lambda _: "8 7", latency_s=args.latency) as server:
        rows = {}
        for concurrency in (1, 16):
            rows[concurrency] = timed_judge(Path(tmp) / f"c{concurrency}", server, concurrency, args.items, args.runs)
        # rerun the concurrency-16 run folder: everything must come from the cache
        config = JudgeConfig(
            run_dir=Path(tmp) / "c16" / "run", prompt=own_prompt(), runs=args.runs,
            endpoint=ChatEndpoint(model="gpt-4o", base_url=server.base_url, concurrency=16),
        )
        before = len(server.requests)
        start = time.perf_counter()
        run_judge(config)
        rerun = (time.perf_counter() - start, len(server.requests) - before)
    n = args.items * args.runs
    print(f"{args.items} items x {args.runs} runs = {n} judge requests, server latency {args.latency * 1000:.0f} ms")
    print(f"{'pass':<22}{'seconds':>9}{'requests':>10}{'req/s':>8}")
    for label, (seconds, sent) in (("concurrency 1", rows[1]), ("concurrency 16", rows[16]), ("rerun (cache)", rerun)):
        print(f"{label:<22}{seconds:>9.2f}{sent:>10d}{n / seconds:>8.1f}")
    print(f"speed-up 16 vs 1: {rows[1][0] / rows[16][0]:.1f}x (target >= 10x); rerun requests: {rerun[1]} (target 0)")


if __name__ == "__main__":
    main()
