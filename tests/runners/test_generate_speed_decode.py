"""Generate does each expensive step once: one decode per distinct source image for the whole run
(not one per variant), one corruption and one encode per (image, treatment), each variant file
hashed by the worker that wrote it, light work units, and OpenCV at one thread in worker
processes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import robustbench_mllm.imaging as imaging
from robustbench_mllm.io_utils import read_json, sha256_file
from robustbench_mllm.records import Item, VariantSpec
from robustbench_mllm.runners.generate.decoded import DECODED_DIR
from robustbench_mllm.runners.generate.plan import GenerateConfig, with_storage
from robustbench_mllm.runners.generate.run import _make_pool, run_generate
from robustbench_mllm.runners.generate.worker import make_units
from robustbench_mllm.store.variants import list_variants, load_items

IMAGES = ("000000000011", "000000000012", "000000000013")


def _pope(root: Path) -> GenerateConfig:
    """3 images, 3 splits x 2 questions per image: 18 rows, each image in 6 rows."""
    images = root / "val2014"
    images.mkdir(parents=True)
    for n, image_id in enumerate(IMAGES):
        pixels = np.random.default_rng(n).integers(0, 256, (36, 44, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"COCO_val2014_{image_id}.jpg", quality=90)
    for split in ("random", "popular", "adversarial"):
        rows = [{"question_id": q + 1, "image": f"COCO_val2014_{IMAGES[q // 2]}.jpg",
                 "text": f"Is there a cat{q} in the image?", "label": "yes" if q % 2 else "no"} for q in range(6)]
        (root / f"coco_pope_{split}.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return GenerateConfig(suite="pope", source=str(root), images=str(images), allow_nonstandard=True,
                          perturbations="contrast,frost,frost+char_typo", severities=(1, 5))


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(imaging, name)

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(imaging, name, counted)
    return calls


def test_each_image_is_decoded_once_and_encoded_once_per_treatment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = _pope(tmp_path / "pope")
    decodes, encodes = _counting(monkeypatch, "load_rgb"), _counting(monkeypatch, "encode_image")
    out = tmp_path / "out"
    summary = run_generate(params, out)

    # clean + (contrast, frost, frost+char_typo) x 2 severities: 7 variants, 5 image treatments
    assert len(summary.written) == 7
    assert len(decodes) == len(IMAGES)
    assert len(encodes) == len(IMAGES) * 5
    assert not (out / DECODED_DIR).exists()
    entries = read_json(out / "manifest.json")["datasets"]["pope"]["variants"]
    assert len(entries) == 7  # hashed by the workers, checked against the files
    assert all(entry["sha256"] == sha256_file(out / entry["file"]) for entry in entries.values())
    clean = load_items(out, "pope", "clean")
    assert len(clean) == 18
    assert {i.image_id: imaging.load_rgb(i.image).shape for i in clean} == dict.fromkeys(IMAGES, (36, 44, 3))


def test_leftover_scratch_from_a_killed_run_changes_nothing(tmp_path: Path) -> None:
    params = _pope(tmp_path / "pope")
    reference = tmp_path / "reference"
    run_generate(params, reference)

    out = tmp_path / "out"
    scratch = out / DECODED_DIR / "pope"
    scratch.mkdir(parents=True)
    (scratch / "000000.npy").write_bytes(b"torn")  # a kill -9 in the middle of decoding
    (scratch / "000099.npy").write_bytes(b"stale")
    run_generate(params, out)

    assert not (out / DECODED_DIR).exists()
    assert list_variants(out) == list_variants(reference)
    for variant in list_variants(out)["pope"]:
        assert sha256_file(out / "pope" / variant / "data.parquet") == sha256_file(
            reference / "pope" / variant / "data.parquet"
        )


def test_units_carry_no_image_bytes(tmp_path: Path) -> None:
    items = [Item(id=f"q{n}", dataset="d", split="s", question="Is there a cat?", image=b"\x89PNG" + bytes(4096),
                  image_id=f"img{n % 2}") for n in range(4)]
    arrays = {"img0": tmp_path / "000000.npy", "img1": tmp_path / "000001.npy"}
    specs = [VariantSpec(), VariantSpec(visual="fog", severity=2)]
    params = with_storage(GenerateConfig(protocol="canonical"))
    units = make_units("d", items, specs, {}, arrays, tmp_path, params)
    assert [u.visual for u in units] == [None, "fog"]
    assert all(item.image is None for unit in units for item in unit.items)
    assert [i.id for i in units[1].items] == [i.id for i in items]
    assert units[1].arrays == arrays


def test_worker_processes_run_opencv_single_threaded() -> None:
    import cv2

    pool = _make_pool(2)
    assert pool is not None
    try:
        counts = [pool.submit(cv2.getNumThreads).result() for _ in range(4)]
    finally:
        pool.shutdown()
    assert counts == [1, 1, 1, 1]


KILLED_PARENT = """
import multiprocessing, os, signal
from robustbench_mllm.runners.generate.run import _make_pool
pool = _make_pool(2)
pool.submit(os.getpid).result()
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # an orphan's zombie may wait a while for a reaper


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_end_when_the_main_process_is_killed(tmp_path: Path) -> None:
    """After kill -9 of a run, its workers must not go on writing variants under a resumed run."""
    import subprocess
    import sys
    import time

    printed = tmp_path / "workers.txt"
    with printed.open("w") as stdout:  # a file, not a pipe: surviving workers would hold a pipe open
        subprocess.run([sys.executable, "-c", KILLED_PARENT], stdout=stdout, timeout=120)
    workers = [int(pid) for pid in printed.read_text().split()]
    assert workers
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [pid for pid in workers if _running(pid)]
    for pid in survivors:  # leave no orphan behind when this fails
        os.kill(pid, signal.SIGKILL)
    assert not survivors
