"""Storage of a POPE-like variant: file size, write/read time and peak memory, before vs after.

Synthetic set: ``--images`` distinct 640x480 photos (scikit-image samples, shifted, with Gaussian
noise) encoded as the generator does (``imaging.encode_image``, PNG), and ``--images x 18`` rows in
POPE order (3 splits; per split the 6 questions of one image are consecutive). As in the generator,
rows showing one image share one ``bytes`` object.

  before: the previous writer (a row group per 64 rows, default 1 MiB dictionary page limit) and
          reader (``pq.read_table(...).to_pylist()``, one bytes copy per row)
  after:  ``store.variant_writer.write_rows`` (rows grouped by image, each image once, with their
          ``position``) and ``store.variants.read_variant`` / ``iter_variant`` (the POPE order back)

Each phase runs in its own process, so peak memory is that process's max RSS (Arrow's buffers
included); "idle" is the same process with the imports done and the input made, doing nothing.

    /work/venv/bin/python benchmarks/bench_storage.py [--images 500] [--work DIR] [--load-dataset]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SPLITS = ("random", "popular", "adversarial")
PER_SPLIT = 6
SIZE = (640, 480)


def make_images(count: int, folder: Path) -> list[Path]:
    """``count`` distinct PNGs (cached in ``folder``): photos shifted per index, plus noise."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from robustbench_mllm.imaging import encode_image
    from robustbench_mllm.seeding import make_rng

    folder.mkdir(parents=True, exist_ok=True)
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "hubble_deep_field")
    photos = []
    for name in names:
        photo = Image.fromarray(getattr(skimage.data, name)()).convert("RGB").resize(SIZE)
        photos.append(np.asarray(photo, dtype=np.int16))
    paths = []
    for index in range(count):
        path = folder / f"{index:04d}.png"
        if not path.is_file():
            rng = make_rng(0, "bench_storage", index)
            shifted = np.roll(photos[index % len(photos)], (index * 7) % SIZE[0], axis=1)
            noisy = np.clip(shifted + rng.normal(0, 6, shifted.shape), 0, 255).astype(np.uint8)
            path.write_bytes(encode_image(noisy, "png"))
        paths.append(path)
    return paths


def pope_rows(images: list[bytes]) -> Iterator[dict[str, Any]]:
    from robustbench_mllm.records import Item, VariantSpec
    from robustbench_mllm.store.variant_schema import item_to_row

    spec = VariantSpec(visual="frost", severity=3, seed=0)
    for split in SPLITS:
        for index, data in enumerate(images):
            for q in range(PER_SPLIT):
                item = Item(id=f"{split}-{index}-{q}", dataset="pope", split=split, image=None,
                            question=f"Is there a thing number {q} in the image?", image_id=f"{index:012d}",
                            label="yes" if q < 3 else "no", category=split)
                yield item_to_row(item, spec, data, "png")


def write_before(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    """The writer this replaces: a row group per 64 rows, pyarrow's default dictionary limit."""
    from itertools import islice

    import pyarrow as pa
    import pyarrow.parquet as pq

    from robustbench_mllm.store.variant_schema import features

    schema = features().arrow_schema
    with pq.ParquetWriter(str(path), schema) as writer:
        while chunk := list(islice(rows, 64)):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))


def read_before(path: Path) -> list[Any]:
    import pyarrow.parquet as pq

    from robustbench_mllm.store.variant_schema import row_to_item

    return [row_to_item(row) for row in pq.read_table(str(path)).to_pylist()]


def phase(name: str, work: Path, count: int) -> dict[str, Any]:
    """Run one measured step in this process; returns its seconds, the peak RSS and checks made
    after the clock stopped."""
    import datasets  # noqa: F401  (imported by every phase, so "idle" shows the import cost)
    import pyarrow.parquet  # noqa: F401

    from robustbench_mllm.store.variant_schema import features
    from robustbench_mllm.store.variant_writer import write_rows
    from robustbench_mllm.store.variants import iter_variant, read_variant

    images = [p.read_bytes() for p in make_images(count, work / "images")]
    steps = {
        "idle": lambda: None,
        "write-before": lambda: write_before(work / "before.parquet", pope_rows(images)),
        "write-variant-before": lambda: datasets.Dataset.from_list(
            [dict(row, position=i) for i, row in enumerate(pope_rows(images))], features=features())
        .to_parquet(str(work / "variant_before.parquet")),
        "write-after": lambda: write_rows(work / "after.parquet", pope_rows(images)),
        "read-before": lambda: read_before(work / "before.parquet"),
        "read-after": lambda: read_variant(work / "after.parquet"),
        "iter-after": lambda: sum(len(batch) for batch in iter_variant(work / "after.parquet", 256)),
        "load-dataset-after": lambda: datasets.load_dataset(
            "parquet", data_files=str(work / "after.parquet"), split="train", cache_dir=str(work / "hf_cache")),
    }
    start = time.perf_counter()
    result = steps[name]()
    facts: dict[str, Any] = {"seconds": time.perf_counter() - start,
                             "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    expected = [row["image"]["bytes"] for row in pope_rows(images)]
    if name.startswith("read-"):
        facts["bytes_objects"] = len({id(item.image) for item in result})
        facts["exact"] = [item.image for item in result] == expected
    elif name == "iter-after":
        facts["rows"] = result
    elif name == "load-dataset-after":
        raw = result.cast_column("image", datasets.Image(decode=False)).sort("position")  # stored by image
        facts["exact"] = len(raw) == len(expected) and all(
            row["image"]["bytes"] == data for row, data in zip(raw, expected))
    return facts


def run_phase(name: str, work: Path, count: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", name, "--work", str(work), "--images", str(count)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:  # reported, not raised: the old write_variant fails at full scale
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def row_group_facts(path: Path) -> tuple[int, int]:
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(str(path)).metadata
    return metadata.num_row_groups, max(metadata.row_group(g).num_rows for g in range(metadata.num_row_groups))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--load-dataset", action="store_true", help="also time datasets.load_dataset on the new file")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_storage_"))
    if args.phase:
        print(json.dumps(phase(args.phase, work, args.images)))
        return

    paths = make_images(args.images, work / "images")
    distinct = sum(p.stat().st_size for p in paths)
    rows = args.images * len(SPLITS) * PER_SPLIT
    print(f"{args.images} distinct 640x480 PNG images ({distinct / 2**20:.1f} MiB), {rows} rows in POPE order")
    print(f"rows x image bytes: {rows * distinct / args.images / 2**20:.1f} MiB")
    idle = run_phase("idle", work, args.images)
    phases = ("write-before", "write-variant-before", "write-after", "read-before", "read-after", "iter-after")
    results = {name: run_phase(name, work, args.images) for name in phases}
    before, after = work / "before.parquet", work / "after.parquet"
    print(f"idle process (imports + input images): peak RSS {idle['peak_rss_mb']:.0f} MiB")
    print()
    print(f"{'':28}{'before':>12}{'after':>12}{'ratio':>10}")

    def line(label: str, old: float, new: float) -> None:
        print(f"{label:28}{old:>12.2f}{new:>12.2f}{old / new:>9.1f}x")

    line("file size (MiB)", before.stat().st_size / 2**20, after.stat().st_size / 2**20)
    line("file / distinct images", before.stat().st_size / distinct, after.stat().st_size / distinct)
    groups = [f"{count} ({most})" for count, most in (row_group_facts(before), row_group_facts(after))]
    print(f"{'row groups (max rows)':28}{groups[0]:>12}{groups[1]:>12}")
    for label, key, unit in (("write", "write", "time (s)"), ("write", "write", "peak RSS (MiB)"),
                             ("read_variant", "read", "time (s)"), ("read_variant", "read", "peak RSS (MiB)")):
        field = "seconds" if unit == "time (s)" else "peak_rss_mb"
        line(f"{label} {unit}", results[f"{key}-before"][field], results[f"{key}-after"][field])
    print(f"{'image bytes objects held':28}{results['read-before']['bytes_objects']:>12}"
          f"{results['read-after']['bytes_objects']:>12}")
    print(f"{'items exact':28}{results['read-before']['exact']!s:>12}{results['read-after']['exact']!s:>12}")
    iterated = results["iter-after"]
    print(f"after: iter_variant(batch_size=256): {iterated['rows']} rows in {iterated['seconds']:.2f} s, "
          f"peak RSS {iterated['peak_rss_mb']:.0f} MiB")
    variant_before, written = work / "variant_before.parquet", results["write-variant-before"]
    print("before, dataset_schema.write_variant (datasets' to_parquet; now the same writer as 'after'): ", end="")
    if "error" in written:
        print(f"failed: {written['error']}")
    else:
        print(f"{variant_before.stat().st_size / 2**20:.1f} MiB = {variant_before.stat().st_size / distinct:.2f} x "
              f"distinct images, write {written['seconds']:.2f} s, peak RSS {written['peak_rss_mb']:.0f} MiB")
    if args.load_dataset:
        loaded = run_phase("load-dataset-after", work, args.images)
        print(f"after: datasets.load_dataset: {loaded['seconds']:.1f} s, peak RSS {loaded['peak_rss_mb']:.0f} MiB, "
              f"every row's image exact: {loaded['exact']}")


if __name__ == "__main__":
    main()
