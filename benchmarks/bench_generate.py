"""End-to-end ``robust-mllm generate`` on a synthetic POPE-like folder: before vs after.

Builds ``--images`` distinct 640x480 JPEG photos (scikit-image photos + per-image noise) with POPE's
layout (3 splits, 6 questions per image per split: 18 rows per image), then times
``run_generate`` for the 9 visual corruptions at the given severities with ``--num-proc`` 1 and 2:

- after: a copy of the working tree's package;
- before: the same copy with the runner modules (``generate``, ``_worker``, ``_manifest``,
  ``_writer``) taken from git revision ``--before`` (read with ``git show``; nothing in the
  repository changes).

Both copies run via PYTHONPATH.

Each run is a fresh child process: wall time, plus CPU time (user + system of the child and its
worker processes, from ``resource.getrusage``), since other jobs may share the cores. The runs of
one runner must write byte-identical files (compared through the manifest, which holds every
file's sha256), and all runs the same rows and images (``content_digest``).
A stage breakdown (decode, corruptions, PNG encode, parquet write), measured in this process,
shows where the time goes; both are projected to the real workload, 530 images (POPE 500 with 18
rows each + LB-COCO 30), by scaling per image.

Usage: python benchmarks/bench_generate.py [--images 100] [--severities 1,3,5] [--before REV]
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
RUNNER_MODULES = tuple(f"robustbench_mllm/runners/generate{part}.py" for part in ("", "_worker", "_manifest", "_writer"))
REAL_IMAGES = 530
PER_SPLIT = 6
SPLITS = ("random", "popular", "adversarial")

CHILD = """
import json, resource, sys, time
from pathlib import Path
import robustbench_mllm
from robustbench_mllm.runners.generate.run import run_generate
from robustbench_mllm.runners.generate.plan import GenerateConfig
src, out, severities, num_proc = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
params = GenerateConfig(suite="pope", source=src, images=src + "/val2014", allow_nonstandard=True,
                        perturbations="visual", severities=tuple(int(s) for s in severities.split(",")))
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


def snapshot(work: Path, name: str, revision: str | None) -> Path:
    """A frozen copy of the package (other people may edit the tree while this runs), with the
    runner modules as of ``revision`` when given."""
    root = work / name
    shutil.copytree(REPO / "robustbench_mllm", root / "robustbench_mllm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for module in RUNNER_MODULES if revision else ():
        old = subprocess.run(["git", "show", f"{revision}:{module}"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
        (root / module).write_text(old)
    # compiled up front: no timed run pays for it
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root)], check=True)
    return root


def timed_run(package_root: Path, source: Path, out: Path, severities: str, num_proc: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(source), str(out), severities, str(num_proc)],
                          env=env, cwd=out.parent, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reported = json.loads(done.stdout.strip().splitlines()[-1])
    if not reported["package"].startswith(str(package_root)):
        raise RuntimeError(f"ran {reported['package']}, expected the package under {package_root}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def content_digest(out: Path) -> str:
    """sha256 over every variant's rows (columns and image bytes), not the file bytes: before and
    after may lay out the same rows differently."""
    import hashlib

    from robustbench_mllm.store.variants import read_variant_rows

    digest = hashlib.sha256()
    image_digests: dict[int, str] = {}  # rows share one bytes object per distinct image
    for path in sorted(out.rglob("data.parquet")):
        digest.update(str(path.relative_to(out)).encode())
        rows = read_variant_rows(path)  # holds every image while ids key image_digests
        for row in rows:
            image = row["image"]
            if id(image["bytes"]) not in image_digests:
                image_digests[id(image["bytes"])] = hashlib.sha256(image["bytes"]).hexdigest()
            fields = {**row, "image": [image_digests[id(image["bytes"])], image["path"]]}
            digest.update(json.dumps(fields, sort_keys=True).encode())
        image_digests.clear()
    return digest.hexdigest()


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
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--severities", default="1,3,5")
    parser.add_argument("--num-proc", default="1,2")
    parser.add_argument("--before", default="b2832f6", help="git revision of the runner to compare with")
    parser.add_argument("--stage-sample", type=int, default=10, help="images for the stage breakdown")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each configuration (the best counts)")
    args = parser.parse_args()
    severities = tuple(int(s) for s in args.severities.split(","))
    variants = 1 + 9 * len(severities)
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as tmp:
        work = Path(tmp)
        source = build_source(work / "pope", args.images)
        trees = {"before": snapshot(work, "before", args.before), "after": snapshot(work, "after", None)}
        print(f"{args.images} images 640x480 JPEG, {PER_SPLIT * len(SPLITS)} rows each; clean + 9 visual x "
              f"severities {args.severities} = {variants} variants; load average {os.getloadavg()[0]:.1f}")
        stages = stage_times(source, severities, min(args.stage_sample, args.images))
        print("\nstage CPU ms per source image (1 process, working tree):")
        for name, ms in stages.items():
            print(f"  {name:18s} {ms:8.1f}")
        files = (stages["write one variant"] + stages["hash one variant"]) * variants
        total = stages["decode"] + stages["corrupt"] + stages["encode"] + files
        print(f"  1 decode + corruptions + {variants} encodes + {variants} variant writes and hashes = {total:.0f} "
              f"ms/image -> {total * REAL_IMAGES / 1000:.0f} s CPU for {REAL_IMAGES} images, of which writes + "
              f"hashes {files * REAL_IMAGES / 1000:.0f} s")
        print(f"\n{'runner':8s} {'procs':>5s} {'wall s':>8s} {'CPU s':>8s} {'load':>5s}")
        manifests: dict[str, set[bytes]] = {}  # per runner: every file's sha256
        contents: set[str] = set()
        measured: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(args.repeats):  # interleaved, so a burst of load from other jobs hits both
            for num_proc in (int(n) for n in args.num_proc.split(",")):
                for label, tree in trees.items():
                    out = work / f"out_{label}_{num_proc}"
                    result = timed_run(tree, source, out, args.severities, num_proc)
                    measured.setdefault((label, num_proc), []).append(result)
                    manifests.setdefault(label, set()).add((out / "manifest.json").read_bytes())
                    contents.add(content_digest(out))
                    print(f"{label:8s} {num_proc:5d} {result['wall']:8.1f} {result['cpu']:8.1f} "
                          f"{os.getloadavg()[0]:5.1f}", flush=True)
                    shutil.rmtree(out)
        same_bytes = all(len(m) == 1 for m in manifests.values())
        same = same_bytes and len(contents) == 1
        print(f"\neach runner wrote the same bytes with every --num-proc (manifest with every file's sha256): "
              f"{same_bytes}; all runs wrote the same rows and images: {len(contents) == 1}")
        scale = REAL_IMAGES / args.images
        print(f"best of {args.repeats}, projected to {REAL_IMAGES} images (x{scale:.1f}):")
        for num_proc in sorted({n for _, n in measured}):
            best = {label: {k: min(r[k] for r in measured[(label, num_proc)]) for k in ("wall", "cpu")}
                    for label in trees}
            for label, value in best.items():
                print(f"  num_proc={num_proc} {label:6s}: wall {value['wall']:6.1f} s -> "
                      f"{value['wall'] * scale / 60:5.1f} min, CPU {value['cpu']:6.1f} s -> {value['cpu'] * scale / 60:5.1f} min "
                      f"(CPU / {num_proc} proc(s) = {value['cpu'] * scale / 60 / num_proc:4.1f} min)")
            print(f"  num_proc={num_proc} after/before: wall {best['after']['wall'] / best['before']['wall']:.2f}, "
                  f"CPU {best['after']['cpu'] / best['before']['cpu']:.2f}")
        if not same:
            for label, seen in manifests.items():
                for manifest in seen:
                    print(f"--- {label} manifest:\n{manifest.decode()[:3000]}")
            raise SystemExit("outputs differ between runs")


if __name__ == "__main__":
    main()
