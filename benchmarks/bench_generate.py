"""End-to-end ``robust-mllm generate`` on a synthetic POPE-like folder, per protocol: the fast
engine against ``--engine reference``, side by side in one run.

Builds ``--images`` distinct 640x480 JPEG photos (scikit-image photos + per-image noise) with POPE's
layout (3 splits, 6 questions per image per split: 18 rows per image), then times
``run_generate`` for the 9 visual corruptions at the given severities with ``--num-proc`` for each
protocol (``vittle``: MM_Robustness's corruptions, OpenCV JPEG storage; ``canonical``:
imagecorruptions' parameters, PNG) and each engine (``fast``: ours; ``reference``: the per-image
code, a port of MM_Robustness's functions under vittle, imagecorruptions itself under canonical),
from a frozen copy of the working tree's package (via PYTHONPATH).

Each run is a fresh child process: wall time, plus CPU time (user + system of the child and its
worker processes, from ``resource.getrusage``), since other jobs may share the cores. Runs of one
protocol and engine are interleaved across repeats so a burst of load hits all of them. A stage
breakdown (decode, corruptions, encode, parquet write) of the fast engine, measured in this
process, shows where the time goes. Each configuration also runs on ``--base-images`` images: the
projection to the real workload, 530 images (POPE 500 with 18 rows each + LB-COCO 30), is that
small run (process start, imports, textures: paid once) plus the per-image cost between the two
runs times the remaining images.

Usage: python benchmarks/bench_generate.py [--images 20] [--base-images 2] [--severities 1,3,5] [--num-proc 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL_IMAGES = 530
PER_SPLIT = 6
SPLITS = ("random", "popular", "adversarial")
PROTOCOLS = ("vittle", "canonical")
ENGINES = ("fast", "reference")

CHILD = """
import json, resource, sys, time
from pathlib import Path
import robustbench_mllm
from robustbench_mllm.runners.generate.run import run_generate
from robustbench_mllm.runners.generate.plan import GenerateConfig
src, out, severities, num_proc, protocol, engine = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
params = GenerateConfig(suite="pope", source=src, images=src + "/val2014", allow_nonstandard=True, protocol=protocol,
                        engine=engine, perturbations="visual", severities=tuple(int(s) for s in severities.split(",")))
started = time.perf_counter()
run_generate(params, out, num_proc=num_proc)
print(json.dumps({"package": robustbench_mllm.__file__, "seconds": time.perf_counter() - started}))
"""


def build_source(root: Path, count: int) -> Path:
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    images = root / "val2014"
    images.mkdir(parents=True)
    for index in range(count):
        rng = np.random.default_rng(index)
        base = np.asarray(Image.fromarray(photos[index % len(photos)]).resize((640, 480)), dtype=np.int16)
        pixels = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(images / f"COCO_val2014_{index + 1:012d}.jpg", quality=90)
    for split in SPLITS:
        rows = [
            {"question_id": index * PER_SPLIT + q + 1, "image": f"COCO_val2014_{index + 1:012d}.jpg",
             "text": f"Is there a thing{q} in the image?", "label": "yes" if q % 2 else "no"}
            for index in range(count) for q in range(PER_SPLIT)
        ]
        (root / f"coco_pope_{split}.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def snapshot(work: Path) -> Path:
    """A frozen copy of the package (other people may edit the tree while this runs)."""
    root = work / "package"
    shutil.copytree(REPO / "robustbench_mllm", root / "robustbench_mllm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    # compiled up front: no timed run pays for it
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root)], check=True)
    return root


def timed_run(package_root: Path, source: Path, out: Path, severities: str, num_proc: int, protocol: str,
              engine: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(source), str(out), severities, str(num_proc), protocol, engine],
                          env=env, cwd=out.parent, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reported = json.loads(done.stdout.strip().splitlines()[-1])
    if not reported["package"].startswith(str(package_root)):
        raise RuntimeError(f"ran {reported['package']}, expected the package under {package_root}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def stage_times(source: Path, severities: tuple[int, ...], sample: int) -> dict[str, float]:
    """CPU ms per source image for each stage (single process, cv2 at 1 thread)."""
    import cv2

    from robustbench_mllm.imaging import encode_image, load_rgb
    from robustbench_mllm.io_utils import sha256_file
    from robustbench_mllm.perturbations.visual import VISUAL_PERTURBATIONS
    from robustbench_mllm.records import Item, VariantSpec
    from robustbench_mllm.registry import load_registry
    from robustbench_mllm.store.variant_schema import item_to_row
    from robustbench_mllm.store.variant_writer import write_rows

    cv2.setNumThreads(1)
    perts = load_registry("perturbations")
    files = sorted((source / "val2014").iterdir())[:sample]
    clock = time.process_time
    totals = {"decode": 0.0, "corrupt": 0.0, "encode": 0.0}
    encoded = []
    for file in files:
        t0 = clock()
        img = load_rgb(file)
        t1 = clock()
        outputs = [perts.get(name).apply(img, s, np.random.default_rng(s)) for name in VISUAL_PERTURBATIONS
                   for s in severities]
        t2 = clock()
        encoded = [encode_image(o) for o in [img, *outputs]]
        t3 = clock()
        totals["decode"] += t1 - t0
        totals["corrupt"] += t2 - t1
        totals["encode"] += t3 - t2
    per_image = {k: 1000 * v / len(files) for k, v in totals.items()}
    # the parquet writer for one variant: POPE's 18 rows per image, in POPE's order
    spec = VariantSpec(visual="frost", severity=3)
    rows = [item_to_row(Item(id=f"{split}_{i}_{q}", dataset="pope", split=split, question="Is there a dog?",
                             image=None, image_id=str(i)), spec, encoded[i % len(encoded)], "png")
            for split in SPLITS for i in range(len(files)) for q in range(PER_SPLIT)]
    with tempfile.TemporaryDirectory() as scratch:
        write_rows(Path(scratch) / "warm.parquet", rows[:1])  # imports datasets once
        t0 = clock()
        write_rows(Path(scratch) / "data.parquet", rows)
        t1 = clock()
        sha256_file(Path(scratch) / "data.parquet")
        per_image["write one variant"] = 1000 * (t1 - t0) / len(files)
        per_image["hash one variant"] = 1000 * (clock() - t1) / len(files)
    return per_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--base-images", type=int, default=2, help="the small run that measures the fixed cost")
    parser.add_argument("--severities", default="1,3,5")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--stage-sample", type=int, default=10, help="images for the stage breakdown")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each configuration (the best counts)")
    args = parser.parse_args()
    severities = tuple(int(s) for s in args.severities.split(","))
    variants = 1 + 9 * len(severities)
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as tmp:
        work = Path(tmp)
        sources = {count: build_source(work / f"pope{count}", count) for count in (args.base_images, args.images)}
        source = sources[args.images]
        package = snapshot(work)
        print(f"{args.images} images 640x480 JPEG, {PER_SPLIT * len(SPLITS)} rows each; clean + 9 visual x "
              f"severities {args.severities} = {variants} variants; --num-proc {args.num_proc}; "
              f"load average {os.getloadavg()[0]:.1f}")
        stages = stage_times(source, severities, min(args.stage_sample, args.images))
        print("\nstage CPU ms per source image (1 process, fast engine, canonical):")
        for name, ms in stages.items():
            print(f"  {name:18s} {ms:8.1f}")
        print(f"\n{'protocol':10s} {'engine':9s} {'images':>6s} {'wall s':>8s} {'CPU s':>8s} {'load':>5s}")
        measured: dict[tuple[str, str, int], list[dict[str, float]]] = {}
        for _ in range(args.repeats):
            for protocol in PROTOCOLS:
                for engine in ENGINES:
                    for count, folder in sources.items():
                        out = work / f"out_{protocol}_{engine}_{count}"
                        result = timed_run(package, folder, out, args.severities, args.num_proc, protocol, engine)
                        measured.setdefault((protocol, engine, count), []).append(result)
                        print(f"{protocol:10s} {engine:9s} {count:6d} {result['wall']:8.1f} {result['cpu']:8.1f} "
                              f"{os.getloadavg()[0]:5.1f}", flush=True)
                        shutil.rmtree(out)

        def projected(protocol: str, engine: str, key: str) -> float:
            """Seconds for the real workload: the small run plus the per-image cost beyond it."""
            small, large = (min(r[key] for r in measured[(protocol, engine, n)]) for n in (args.base_images, args.images))
            return small + (large - small) / (args.images - args.base_images) * (REAL_IMAGES - args.base_images)

        print(f"\nbest of {args.repeats}, projected to {REAL_IMAGES} images, --num-proc {args.num_proc}:")
        for protocol in PROTOCOLS:
            best = {engine: {k: projected(protocol, engine, k) for k in ("wall", "cpu")} for engine in ENGINES}
            for engine, value in best.items():
                print(f"  {protocol:9s} {engine:9s}: wall {value['wall'] / 60:5.1f} min, "
                      f"CPU {value['cpu'] / 60:5.1f} min (CPU / {args.num_proc} procs = "
                      f"{value['cpu'] / 60 / args.num_proc:4.1f} min)")
            print(f"  {protocol:9s} reference / fast: wall {best['reference']['wall'] / best['fast']['wall']:.1f}x, "
                  f"CPU {best['reference']['cpu'] / best['fast']['cpu']:.1f}x")


if __name__ == "__main__":
    main()
