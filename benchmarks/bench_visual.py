"""Fast vs reference engine for the 9 visual corruptions, side by side in one run.

    /work/venv/bin/python benchmarks/bench_visual.py [--photos 3] [--repeats 3] [--clock cpu|wall]

On 640x480 real photos (scikit-image's data photos, resized) it measures ms per image for each
corruption at severity 3 under both engines (each corruption fast then reference, so changes in
machine load hit both alike), and prints the ratio per corruption and for the sum. It then
projects the wall time of generating POPE + LB-COCO (530 distinct images) x 9 corruptions x
severities 1, 3, 5 with 2 processes:

    projected = sum over corruptions and severities 1,3,5 of (fast ms + PNG encode ms) * 530 / 2

assuming the two processes scale perfectly (no shared state) and each source image is decoded
once (small next to 27 corruptions + encodes; the decode time is printed too). OpenCV is limited
to one thread so that one process models one core of the 2-process run.

Times are process CPU time by default (``--clock cpu``): on a shared machine wall time mostly
measures the other tenants, while CPU time of a single-threaded process is what one dedicated core
would take. ``--clock wall`` measures wall time instead. The run ends with the wall/CPU ratio of
the whole run as a load indicator.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from robustbench_mllm.imaging import encode_image, load_rgb
from robustbench_mllm.perturbations.visual import VISUAL_PERTURBATIONS, VisualCorruption
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng

PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left")
IMAGES_POPE_LBCOCO = 530
PROCESSES = 2
TARGET_SPEEDUP = 5.0
TARGET_MINUTES = 5.0


def photos(count: int) -> list[np.ndarray]:
    from skimage import data, transform

    out = []
    for name in PHOTO_NAMES[:count]:
        resized = transform.resize(getattr(data, name)(), (480, 640), anti_aliasing=True)
        out.append((resized[..., :3] * 255).astype(np.uint8))
    return out


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
Timer = Callable[[Callable[[], object], int], float]
Engine = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def timer(clock: Callable[[], float]) -> Timer:
    def ms_per_call(call: Callable[[], object], repeats: int) -> float:
        """Median over ``repeats`` calls, in milliseconds."""
        times = []
        for _ in range(repeats):
            start = clock()
            call()
            times.append(clock() - start)
        return 1000 * statistics.median(times)

    return ms_per_call


def mean_ms(
    timed: Timer, engine: Engine, images: list[np.ndarray], severity: int, repeats: int
) -> float:
    """Mean over the photos of the median time of ``engine(photo, severity, rng)``."""
    return statistics.mean(
        timed(functools.partial(engine, img, severity, make_rng(1)), repeats) for img in images
    )


def compare_engines(
    corruptions: list[VisualCorruption], images: list[np.ndarray], timed: Timer, repeats: int
) -> None:
    print(f"{'corruption':<16}{'fast ms':>9}{'ref ms':>9}{'speed-up':>10}")
    fast_total = ref_total = 0.0
    for pert in corruptions:
        fast = mean_ms(timed, pert.apply, images, 3, repeats)
        ref = mean_ms(timed, pert.apply_reference, images, 3, repeats)
        fast_total += fast
        ref_total += ref
        print(f"{pert.name:<16}{fast:>9.1f}{ref:>9.1f}{ref / fast:>9.1f}x")
    speedup = ref_total / fast_total
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
    print(
        f"{'sum of 9':<16}{fast_total:>9.1f}{ref_total:>9.1f}{speedup:>9.1f}x"
        f"  ({verdict} the >= {TARGET_SPEEDUP:g}x target)\n"
    )


def project_generation(
    corruptions: list[VisualCorruption], images: list[np.ndarray], timed: Timer, repeats: int
) -> None:
    """Every corruption at severities 1, 3, 5 (fast engine) plus one PNG encode each."""
    sweep_ms = 0.0
    encode_ms: list[float] = []
    for pert in corruptions:
        for severity in (1, 3, 5):
            sweep_ms += mean_ms(timed, pert.apply, images, severity, repeats)
            outputs = [pert.apply(img, severity, make_rng(2)) for img in images]
            encode_ms.extend(timed(lambda o=o: encode_image(o), 1) for o in outputs)
    encode = statistics.mean(encode_ms)
    jpegs = [encode_image(img, "jpeg") for img in images]
    jpeg = statistics.mean(timed(lambda img=img: encode_image(img, "jpeg"), 3) for img in images)
    decode = statistics.mean(timed(lambda data=data: load_rgb(data), 3) for data in jpegs)
    per_image_ms = sweep_ms + 27 * encode
    projected_s = per_image_ms * IMAGES_POPE_LBCOCO / PROCESSES / 1000
    verdict = "meets" if projected_s <= TARGET_MINUTES * 60 else "MISSES"
    print(f"fast engine, 9 corruptions x severities 1,3,5 per image: {sweep_ms:.0f} ms")
    print(
        f"PNG encode per corrupted image: {encode:.1f} ms (JPEG q95 for comparison: {jpeg:.1f} ms)"
    )
    print(f"per source image (27 variants + 27 encodes): {per_image_ms:.0f} ms")
    print(
        f"projected POPE + LB-COCO ({IMAGES_POPE_LBCOCO} images x 9 x 3 severities, "
        f"{PROCESSES} processes): {projected_s:.0f} s = {projected_s / 60:.1f} min "
        f"({verdict} the <= {TARGET_MINUTES:g} min target)"
    )
    redecode_s = 26 * decode * IMAGES_POPE_LBCOCO / PROCESSES / 1000
    print(
        f"decoding a 640x480 JPEG source (load_rgb): {decode:.1f} ms; a runner that decodes the "
        f"source again for each of the 27 variants adds {redecode_s:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=3, help="how many 640x480 photos")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per photo (median)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="what to time")
    args = parser.parse_args()
    run_wall, run_cpu = time.perf_counter(), time.process_time()
    cv2.setNumThreads(1)
    registry = load_registry("perturbations")
    images = photos(args.photos)
    corruptions = []
    for name in VISUAL_PERTURBATIONS:
        pert = registry.get(name)
        assert isinstance(pert, VisualCorruption)
        pert.apply(images[0], 3, make_rng(0))  # warm-up: texture caches, lazy imports, numba
        pert.apply_reference(images[0], 3, make_rng(0))
        corruptions.append(pert)
    print(
        f"{len(images)} photos 640x480, median of {args.repeats} calls each, {args.clock} time, "
        "cv2 threads=1\n"
    )
    timed = timer(CLOCKS[args.clock])
    compare_engines(corruptions, images, timed, args.repeats)
    project_generation(corruptions, images, timed, args.repeats)
    load = (time.perf_counter() - run_wall) / (time.process_time() - run_cpu)
    print(f"whole run: wall/CPU = {load:.2f} (1.0 = this process had a core to itself)")


if __name__ == "__main__":
    main()
