"""``robust-mllm list``: the registered perturbations (with per-severity parameters), models,
sources or judges."""

from __future__ import annotations

from enum import Enum

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console


class Listing(str, Enum):
    perturbations = "perturbations"
    models = "models"
    sources = "sources"
    judges = "judges"
    protocols = "protocols"


def list_registry(what: Listing = typer.Argument(..., help="Which registry to list.")) -> None:
    """List registered perturbations (with per-severity parameters), models, sources or judges."""
    from robustbench_mllm.registry import load_registry

    registry = load_registry(what.value)
    if what is Listing.protocols:
        table = Table(title="Protocols (default: vittle)")
        table.add_column("setting")
        names = registry.names()[::-1]  # vittle first
        for name in names:
            table.add_column(name, overflow="fold")
        records = [registry.get(name).record() for name in names]
        for field in records[0]:
            if field != "name":
                table.add_row(field, *(repr(r[field]) if field.endswith("suffix") else str(r[field]) for r in records))
    elif what is Listing.perturbations:
        # one row per perturbation and severity: readable at 80 columns, parameters never cut
        table = Table(title="Perturbations (severities 1-5)")
        for column in ("name", "modality", "category", "severity", "parameters"):
            table.add_column(column, overflow="fold")
        for name, pert in registry.items():
            for severity in range(1, 6):
                first = severity == 1
                table.add_row(name if first else "", pert.modality if first else "", pert.category if first else "",
                              str(severity), pert.params(severity), end_section=severity == 5)
    else:
        table = Table(title=what.value.capitalize())
        table.add_column("name")
        table.add_column("description", overflow="fold")
        for name, entry in registry.items():
            doc = (getattr(entry, "__doc__", None) or "").strip().splitlines()
            table.add_row(name, doc[0] if doc else "")
    console.print(table)
