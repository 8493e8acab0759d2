"""Source images decoded once per run, kept as raw arrays in a scratch folder.

A data set is written as one work unit per image treatment (clean, and each visual perturbation
at each severity: 28 units for 9 corruptions x 3 severities), and every unit needs the pixels of
every image. Decoding the JPEG/PNG source in each unit cost 28 decodes per image (~4 ms each for a
640x480 COCO photo, about a fifth of the corruption work). Instead the screening step, which must
decode every distinct image anyway to find bad files, saves each decoded image as a ``.npy`` file
(no pickle; loading is a memory copy) under ``OUT/.decoded-tmp/<dataset>/``, and units read the
arrays back. Memory stays at one image per process; the scratch folder (the data set's decoded
size on disk, ~0.5 GB for POPE's 500 images) is removed when the run ends and rebuilt by a
resumed run, so it never reaches the published output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from robustbench_mllm.records import Item

DECODED_DIR = ".decoded-tmp"


def decoded_root(out: Path) -> Path:
    return Path(out) / DECODED_DIR


def array_files(out: Path, dataset: str, image_ids: list[str]) -> dict[str, Path]:
    """``{image id: scratch file}``; files are numbered (image ids may hold any character)."""
    folder = decoded_root(out) / dataset
    return {image_id: folder / f"{number:06d}.npy" for number, image_id in enumerate(image_ids)}


def decode_to_file(item: Item, target: Path) -> str | None:
    """Decode ``item``'s image into ``target``; None on success, else the error (naming the file
    and the item id). Runs in worker processes: only the path and the message cross over."""
    from robustbench_mllm.imaging import ImageDecodeError, load_rgb

    try:
        img = load_rgb(item.image, item_id=item.id)  # type: ignore[arg-type]
    except (ImageDecodeError, OSError) as exc:
        return str(exc)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.save(target, img, allow_pickle=False)
    return None


def load_array(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def remove_decoded(out: Path) -> None:
    shutil.rmtree(decoded_root(out), ignore_errors=True)
