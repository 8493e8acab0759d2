"""One item across every generated variant as a grid, for eyeballing (``robust-mllm gallery``).

Rows are perturbations (``clean`` first), columns the severities present; each cell shows the
variant's image with its question underneath (so textual variants show what changed), drawn
with real text shaping (``text_render``): Hindi joins into its conjuncts, Arabic reads right to
left.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.store.layout import variant_file
from robustbench_mllm.store.variants import list_variants, read_columns

CELL_PX = (260, 300)  # width, height: the image plus three lines of question
LABEL_PX = 150  # the perturbation names on the left
HEADER_PX = 56  # the title and the severity headers on top
TEXT_PX = 13


@dataclass(frozen=True)
class Cell:
    variant: str
    image: bytes
    question: str


@dataclass(frozen=True)
class Grid:
    rows: tuple[str, ...]  # perturbations, "clean" first
    columns: tuple[int, ...]  # severities
    cells: dict[tuple[str, int], Cell]


def collect_grid(data: Path, item_id: str, dataset: Optional[str] = None) -> Grid:
    from robustbench_mllm.records import VariantSpec

    present = list_variants(data)
    names = [dataset] if dataset else sorted(present)
    for name in names:
        if name not in present:
            raise ConfigError(f"{data}: no data set {name!r}; present: {', '.join(sorted(present))}")
        cells: dict[tuple[str, int], Cell] = {}
        for variant in present[name]:
            found = read_columns(variant_file(data, name, variant), ["id", "image", "question"], item_id=item_id)
            if not found:
                continue
            row = found[0]
            spec = VariantSpec.parse(variant)
            cells[(spec.perturbation, spec.severity if spec.visual or spec.text else 0)] = Cell(
                variant, row["image"]["bytes"], row["question"]
            )
        if cells:
            severities = sorted({s for _, s in cells if s}) or [0]
            rows = sorted({p for p, _ in cells}, key=lambda p: (p != "clean", "+" in p, p))
            # clean has no severity: show it in the first column
            cells = {(p, severities[0] if s == 0 else s): c for (p, s), c in cells.items()}
            return Grid(tuple(rows), tuple(severities), cells)
    raise ConfigError(f"{data}: item {item_id!r} not found in {', '.join(names) or 'any data set'}")


def render_grid(grid: Grid, path: Path, title: str) -> Path:
    import io

    from PIL import Image, ImageDraw

    from robustbench_mllm.imaging import load_rgb
    from robustbench_mllm.io_utils import atomic_write_bytes
    from robustbench_mllm.reports.text_render import draw_text

    width, height = CELL_PX
    canvas = Image.new("RGB", (LABEL_PX + width * len(grid.columns), HEADER_PX + height * len(grid.rows)), "white")
    draw = ImageDraw.Draw(canvas)
    draw_text(draw, (8, 6, canvas.width - 8, 30), title, TEXT_PX + 2, max_lines=1)
    for c, severity in enumerate(grid.columns):
        draw_text(draw, (LABEL_PX + c * width + 6, 32, LABEL_PX + (c + 1) * width, HEADER_PX), f"severity {severity}",
                  TEXT_PX, max_lines=1)
    picture = height - round(TEXT_PX * 1.35 * 3) - 16
    for r, perturbation in enumerate(grid.rows):
        top = HEADER_PX + r * height
        draw_text(draw, (6, top + picture // 2 - 20, LABEL_PX - 6, top + picture), perturbation.replace("+", " + "),
                  TEXT_PX, max_lines=3)
        for c, severity in enumerate(grid.columns):
            cell = grid.cells.get((perturbation, severity))
            if cell is None:
                continue
            left = LABEL_PX + c * width
            image = Image.fromarray(load_rgb(cell.image))
            image.thumbnail((width - 12, picture - 6))
            canvas.paste(image, (left + (width - image.width) // 2, top + 4))
            draw_text(draw, (left + 6, top + picture + 4, left + width - 6, top + height), cell.question, TEXT_PX)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
