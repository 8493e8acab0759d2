"""Report statistics at the paper's POPE scale (500 images x 3 splits x 6 questions = 9000 items):
time of the image-clustered bootstrap and paired test, and how much wider the clustered CI is than
an item-level one when answers about one image are correlated (as they are under corruption).

Run: python benchmarks/bench_report.py
"""

from __future__ import annotations

import time

import numpy as np

from robustbench_mllm.reports.bootstrap import bootstrap_ratio, paired_bootstrap
from robustbench_mllm.seeding import make_rng

N_IMAGES, SPLITS, PER_SPLIT, RESAMPLES = 500, ("random", "popular", "adversarial"), 6, 2000


def synthetic(image_effect: float, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Correct/incorrect per item; ``image_effect`` is how much of the logit is shared per image."""
    rng = make_rng("bench_report", seed)
    shared = rng.normal(0, image_effect, N_IMAGES)
    clusters, strata, correct = [], [], []
    for image in range(N_IMAGES):
        for split in SPLITS:
            logits = 1.5 + shared[image] + rng.normal(0, 1, PER_SPLIT)
            correct += list(rng.random(PER_SPLIT) < 1 / (1 + np.exp(-logits)))
            clusters += [f"img{image}"] * PER_SPLIT
            strata += [split] * PER_SPLIT
    return clusters, strata, np.asarray(correct, dtype=float)


def main() -> None:
    print(f"items={N_IMAGES * len(SPLITS) * PER_SPLIT} images={N_IMAGES} resamples={RESAMPLES}")
    print("image_effect  acc    CI width (by image)  CI width (by item)  ratio")
    for effect in (0.0, 1.0, 2.0):
        clusters, strata, correct = synthetic(effect, seed=1)
        ones = np.ones_like(correct)
        by_image = bootstrap_ratio(clusters, correct, ones, strata=strata, scale=100, resamples=RESAMPLES)
        by_item = bootstrap_ratio([str(i) for i in range(len(correct))], correct, ones, strata=strata, scale=100,
                                  resamples=RESAMPLES)
        w_image, w_item = by_image.high - by_image.low, by_item.high - by_item.low
        print(f"{effect:12.1f}  {by_image.value:5.1f}  {w_image:19.2f}  {w_item:18.2f}  {w_image / w_item:5.2f}")
    clusters, strata, correct = synthetic(1.0, seed=1)
    _, _, other = synthetic(1.0, seed=2)
    ones = np.ones_like(correct)
    start = time.perf_counter()
    bootstrap_ratio(clusters, correct, ones, strata=strata, scale=100, resamples=RESAMPLES)
    single = time.perf_counter() - start
    start = time.perf_counter()
    test = paired_bootstrap(clusters, correct, ones, other, ones, strata=strata, scale=100, resamples=RESAMPLES)
    paired = time.perf_counter() - start
    print(f"time: CI {single * 1000:.0f} ms, paired test {paired * 1000:.0f} ms "
          f"(diff {test.diff:.2f} [{test.low:.2f}, {test.high:.2f}], p={test.p_value:.3f})")


if __name__ == "__main__":
    main()
