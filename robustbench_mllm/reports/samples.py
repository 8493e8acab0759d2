"""Sample material for the HTML report: one item's image under every variant (thumbnails from the
generated parquet) and clean vs perturbed answers of each model on a few items."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustbench_mllm.io_utils import atomic_write_bytes
from robustbench_mllm.reports.html import thumbnail
from robustbench_mllm.reports.item_scores import YES_NO, pope_answer
from robustbench_mllm.reports.run_data import Run
from robustbench_mllm.store.variants import read_item_table

if TYPE_CHECKING:
    from robustbench_mllm.reports.gallery import Cell

THUMBNAIL_PX = 170  # the tile's display width
FULL_PX = 768  # the full-size copy a tile opens (JPEG; identical images are written once)
REFERENCE_CHARS = 240  # long reference answers are clipped in the answer tables


@dataclass(frozen=True)
class Tile:
    variant: str
    question: str
    data: str  # base64 JPEG thumbnail
    href: str  # the full-size image, relative to the report page


@dataclass(frozen=True)
class GalleryRow:
    perturbation: str
    tiles: tuple[Tile | None, ...]  # one per severity column; None where not generated


@dataclass(frozen=True)
class Gallery:
    dataset: str
    image_id: str
    severities: tuple[int, ...]  # the column headers
    rows: tuple[GalleryRow, ...]  # clean first


def item_gallery(data: Path, dataset: str, out: Path) -> Gallery | None:
    """The first clean item's image in every variant as base64 JPEG thumbnails, laid out as the
    ``gallery`` command's grid: rows = perturbations, columns = severities. Each tile links to
    a full-size copy under ``out/gallery/`` (named by content, so a text-only variant, whose
    image is the clean one, adds no file)."""
    from robustbench_mllm.reports.gallery import collect_grid

    rows = read_item_table(data, dataset, "clean")
    if not rows:
        return None
    try:
        grid = collect_grid(data, str(rows[0]["id"]), dataset)
    except ValueError:  # the item is missing from every variant: no gallery, the rest still renders
        return None
    made = tuple(GalleryRow(perturbation, tuple(_tile(cell, out) if (cell := grid.cells.get((perturbation, s))) else None
                                                for s in grid.columns))
                 for perturbation in grid.rows)  # clean sits in the first column
    return Gallery(dataset, str(rows[0]["image_id"]), grid.columns, made)


def _tile(cell: Cell, out: Path) -> Tile:
    from PIL import Image

    name = f"gallery/{hashlib.sha256(cell.image).hexdigest()[:16]}.jpg"
    if not (out / name).is_file():
        with Image.open(io.BytesIO(cell.image)) as opened:
            image = opened.convert("RGB")
        image.thumbnail((FULL_PX, FULL_PX))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        atomic_write_bytes(out / name, buffer.getvalue())
    return Tile(cell.variant, cell.question, thumbnail(cell.image, THUMBNAIL_PX), name)


def answer_rows(runs: Sequence[Run], dataset: str, variant: str, limit: int) -> dict[str, Any] | None:
    """The first ``limit`` items of a perturbed variant with each model's clean and perturbed
    answers; yes/no answers are marked right or wrong by the evaluate stage's rule."""
    data = next((r.data for r in runs if r.data is not None), None)
    if data is None:
        return None
    rows = read_item_table(data, dataset, variant)[:limit]
    clean_rows = {r["id"]: r for r in read_item_table(data, dataset, "clean")}
    if not rows:
        return None
    answers = [(run.answers(dataset, "clean"), run.answers(dataset, variant)) for run in runs]
    out = []
    for row in rows:
        label = str(row.get("label") or "")
        cells = []
        for clean, perturbed in answers:
            a, b = clean.get(row["id"], "–"), perturbed.get(row["id"], "–")
            cells.append({"clean": a, "perturbed": b, "clean_class": _mark(a, label),
                          "perturbed_class": _mark(b, label)})
        clean_question = clean_rows.get(row["id"], row).get("question", "")
        out.append({"id": row["id"], "question": row.get("question", ""), "clean_question": clean_question,
                    "label": label or _clip(str(row.get("reference_answer") or "")), "cells": cells})
    return {"dataset": dataset, "variant": variant, "models": [r.label for r in runs], "rows": out}


def _clip(text: str) -> str:
    return text if len(text) <= REFERENCE_CHARS else text[: REFERENCE_CHARS - 1].rstrip() + "…"


def _mark(answer: str, label: str) -> str:
    if label.lower() not in YES_NO or answer == "–":
        return ""
    return "right" if pope_answer(answer) == label.lower() else "wrong"
