"""COCO val2014 image files under either naming scheme.

Upstream LLaVA names images ``000000441147.jpg``; the Vittle fork and POPE use
``COCO_val2014_000000441147.jpg``. Files are matched on the 12-digit image number, so question
files and image folders may use different schemes.
"""

from __future__ import annotations

import re
from pathlib import Path

from robustbench_mllm.errors import MissingResourceError

_COCO_NAME = re.compile(r"(?:COCO_(?:val|train)2014_)?(\d{12})(?:\.(?:jpe?g|png))?", re.IGNORECASE)


def coco_image_id(name: str) -> str:
    """``000000441147`` for either naming scheme; the file stem for other names."""
    match = _COCO_NAME.fullmatch(Path(name).name)
    return match.group(1) if match else Path(name).stem


def index_image_folder(images_dir: Path) -> dict[str, Path]:
    """``{image id: path}`` for every file in ``images_dir`` (one directory listing, not one
    ``stat`` per question)."""
    folder = Path(images_dir)
    if not folder.is_dir():
        raise MissingResourceError(f"{folder}: image folder not found (give the COCO image folder as `images`)")
    return {coco_image_id(p.name): p for p in sorted(folder.iterdir()) if p.is_file()}


def resolve_image(index: dict[str, Path], images_dir: Path, name: str) -> Path:
    """The file for ``name`` under either scheme. A missing file keeps its given name so that
    decoding reports it against the item (and ``--on-error skip`` can record and skip it)."""
    return index.get(coco_image_id(name), Path(images_dir) / Path(name).name)
