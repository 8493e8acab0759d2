"""``robust-mllm import-shifted``: the authors' published shifted LB-COCO sets as generated variants."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console, split_names


def import_shifted(
    source: str = typer.Argument(..., help="synthetic | natural | a Hub id | a local copy (save_to_disk folder)."),
    out: Path = typer.Option(..., "--out", help="Folder to write, in the generate command's layout."),
    splits: Optional[str] = typer.Option(None, help="Comma list of split names (default: every split)."),
) -> None:
    """Import the authors' published shifted LB-COCO sets as variants `evaluate` can run on."""
    from robustbench_mllm.runners.import_shifted import import_shifted as run_import

    shifts = run_import(source, out, split_names([splits] if splits else None))
    table = Table(title=f"Imported {source} into {out}")
    for column in ("split", "dataset", "variant", "modality", "severity"):
        table.add_column(column)
    for shift in shifts:
        table.add_row(shift.split, shift.dataset, shift.variant, shift.modality, str(shift.severity))
    console.print(table)
