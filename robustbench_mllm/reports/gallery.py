"""One item across every generated variant as a grid, for eyeballing (``robust-mllm gallery``).

Rows are perturbations (``clean`` first), columns the severities present; each cell shows the
variant's image with its question underneath (so textual variants show what changed).
"""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.store.layout import variant_file
from robustbench_mllm.store.variants import list_variants, read_columns

CELL_INCHES = (2.6, 3.0)  # width, height: the image plus three lines of question
DPI = 100


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robustbench_mllm.imaging import load_rgb

    width, height = CELL_INCHES[0] * len(grid.columns), CELL_INCHES[1] * len(grid.rows)
    fig, axes = plt.subplots(len(grid.rows), len(grid.columns), figsize=(width, height), dpi=DPI, squeeze=False)
    for r, perturbation in enumerate(grid.rows):
        for c, severity in enumerate(grid.columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            cell = grid.cells.get((perturbation, severity))
            if cell is None:
                ax.axis("off")
                continue
            ax.imshow(load_rgb(cell.image))
            ax.set_xlabel("\n".join(textwrap.wrap(cell.question, 34)[:3]), fontsize=6)
            ax.set_title("clean" if perturbation == "clean" else f"severity {severity}", fontsize=8)
            if c == 0:
                ax.set_ylabel(perturbation, fontsize=7)
    fig.suptitle(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # DejaVu Sans lacks Devanagari: Hindi questions render as boxes, which is fine for eyeballing
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.4 / height))
        fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
