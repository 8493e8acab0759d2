"""EMID + JSD for 28 variants x 90 items: a first run that embeds, and a rerun from the cache.

Random-weight encoders with the real embedding width (768, like CLIP ViT-B/32 and XLM-R base;
one to two layers so the first run's embedding is quick on CPU) are built from configs into a temp
folder, a generated set (clean + 13 visual + 14 text variants, 30 images x 3 questions) and a run
folder are written, then ``run_emid`` runs twice with fresh embedders. The rerun must embed
nothing; its time is EMID + all JSD terms (linear, 20-permutation baselines) from cached
embeddings. Also: our O(N d) CLUB formula vs the naive N x N x d one, and one RFF JSD.

    python benchmarks/bench_metrics.py [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robustbench_mllm.metrics.club import ClubTraining, club_value  # noqa: E402
from robustbench_mllm.metrics.jsd import jsd_with_baseline  # noqa: E402
from robustbench_mllm.records import VariantSpec  # noqa: E402
from robustbench_mllm.runners.emid import EmidConfig, make_embedders, run_emid  # noqa: E402
from tests.fixtures.metric_runs import write_generated, write_run  # noqa: E402
from tests.fixtures.tiny_encoders import build_tiny_clip, build_tiny_xlmr  # noqa: E402

N_IMAGES = 30  # x 3 questions = 90 items per variant
_LEVELS = [(k, s) for k in range(3) for s in (1, 2, 3, 4, 5)]
SPECS = (
    (VariantSpec(),)
    + tuple(VariantSpec(visual=f"noise{k}", severity=s) for k, s in _LEVELS[:13])
    + tuple(VariantSpec(text=f"typo{k}", severity=s) for k, s in _LEVELS[:14])
)


def _naive_club(mu: np.ndarray, logvar: np.ndarray, y: np.ndarray) -> float:
    positive = -((mu - y) ** 2) / 2.0 / np.exp(logvar)
    negative = -(((y[None, :, :] - mu[:, None, :]) ** 2).mean(1)) / 2.0 / np.exp(logvar)
    return float((positive.sum(1) - negative.sum(1)).mean())


def _timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    assert len(SPECS) == 28, len(SPECS)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = build_tiny_clip(root / "clip", hidden=768)
        xlmr = build_tiny_xlmr(root / "xlmr", hidden=768)
        data = write_generated(root / "generated", N_IMAGES, SPECS)
        run_dir = write_run(root / "run", data, N_IMAGES, SPECS)
        config = EmidConfig(run_dir=run_dir, image_encoder=str(clip), text_encoder=str(xlmr),
                            training=ClubTraining(max_steps=300))
        first = make_embedders(config, run_dir)
        payload, t_first = _timed(run_emid, config, first)
        rerun = make_embedders(config, run_dir)
        again, t_rerun = _timed(run_emid, config, rerun)
        assert again["datasets"] == payload["datasets"]
        steps = payload["estimator"]["info"]["steps"]
        rows = payload["datasets"]["sample_lbcoco"]
        print(f"variants x items: {len(rows)} x {rows['clean']['n']}, embedding width 768, torch threads {args.threads}")
        print(f"first run (embed + train CLUB {steps} steps + EMID/JSD): {t_first:7.2f} s, forward calls {first.forward_calls}")
        print(f"rerun (cached embeddings, saved estimator, EMID/JSD):  {t_rerun:7.2f} s, forward calls {rerun.forward_calls}")
        print(f"rerun / first run: {t_rerun / t_first:.3f}")

    rng = np.random.default_rng(0)
    mu, logvar, y = rng.standard_normal((90, 768)), rng.uniform(-1, 1, (90, 768)), rng.standard_normal((90, 768))
    fast, t_fast = _timed(lambda: [club_value(mu, logvar, y) for _ in range(20)])
    slow, t_slow = _timed(lambda: [_naive_club(mu, logvar, y) for _ in range(20)])
    assert abs(fast[0] - slow[0]) < 1e-8 * max(1.0, abs(slow[0]))
    print(f"CLUB value N=90 d=768: O(Nd) {t_fast / 20 * 1e3:.2f} ms vs naive NxNxd {t_slow / 20 * 1e3:.2f} ms "
          f"(ratio {t_slow / t_fast:.1f}x)")
    a, b = rng.standard_normal((90, 768)), rng.standard_normal((90, 768)) + 0.05
    for kind in ("linear", "gaussian", "gaussian_rff"):
        result, t = _timed(jsd_with_baseline, a, b, kind, permutations=20)
        print(f"JSD {kind:12s} 90 vs 90, 768-d, 20 permutations: {t * 1e3:7.1f} ms "
              f"(value {result.value:.4f}, baseline {result.baseline:.4f})")


if __name__ == "__main__":
    main()
