"""``robust-mllm gallery``: one PNG of one item across every generated variant, for eyeballing."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from robustbench_mllm.cli.common import console


def gallery(
    data: Path = typer.Argument(..., help="A `robust-mllm generate` output folder."),
    item: str = typer.Option(..., help="Item id, e.g. astronaut_conv or random_1."),
    dataset: Optional[str] = typer.Option(None, help="Data set (default: the first that has the item)."),
    out: Optional[Path] = typer.Option(None, help="PNG to write (default DATA/gallery_<item>.png)."),
) -> None:
    """One PNG grid of an item: rows = perturbations, columns = severities."""
    from robustbench_mllm.reports.gallery import collect_grid, render_grid

    grid = collect_grid(data, item, dataset)
    path = render_grid(grid, out or data / f"gallery_{item}.png", f"{data.name}: {item}")
    console.print(f"wrote {path} ({len(grid.rows)} perturbations x {len(grid.columns)} severities)")
