"""The ``represent`` command (light at import: the body imports torch and transformers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from robustbench_mllm.cli.common import console, split_names


def represent_table(payload: dict[str, Any]) -> Any:
    """One row per dataset and variant; each JSD with its same-distribution baseline in ()."""
    from rich.table import Table

    kinds = payload["jsd_kinds"]
    table = Table(title=f"Layer-{payload['layer']} representation shift vs clean "
                        "(permutation baseline in parentheses)")
    for column in ("dataset", "variant", "n", *(f"JSD {k}" for k in kinds), "cos dist mean"):
        table.add_column(column, justify="left" if column in ("dataset", "variant") else "right")
    for dataset, rows in payload["datasets"].items():
        for variant, row in rows.items():
            jsd = [f"{row['jsd'][k]['value']:.4f} ({row['jsd'][k]['baseline']:.4f})" for k in kinds]
            table.add_row(dataset, variant, str(row["n"]), *jsd, f"{row['cosine_distance']['mean']:.4f}")
    return table


def represent(
    model: str = typer.Option(..., help="Local model folder (an adapter with hidden_states)."),
    data: Path = typer.Option(..., help="Generated data folder (`robust-mllm generate` output)."),
    layer: int = typer.Option(24, min=0, help="Decoder layer whose last-input-token state is taken."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: runs/represent-<model name>)."),
    adapter: Optional[str] = typer.Option(None, help="Force an adapter (default: detected)."),
    datasets: Optional[list[str]] = typer.Option(
        None, "--datasets", "--dataset", help="Only these datasets: NAME,... (repeatable; default all)."),
    jsd_kind: Optional[list[str]] = typer.Option(None, "--jsd-kind", help="linear, gaussian, gaussian_rff (repeatable; default linear + gaussian)."),
    permutations: int = typer.Option(20, min=1, help="Re-splits for the same-distribution JSD baseline."),
    batch_size: int = typer.Option(8, min=1, help="Items per forward pass."),
    seed: int = typer.Option(0, min=0, help="Seed of the JSD baselines and random features."),
    device: str = typer.Option("auto", envvar="ROBUST_MLLM_DEVICE", help="auto, cpu or cuda."),
) -> None:
    """Store an MLLM's hidden states per item and variant; JSD, cosine distances, PCA vs clean."""
    from rich.progress import Progress

    from robustbench_mllm.runners.represent import RepresentConfig, run_represent

    kinds = tuple(jsd_kind or ("linear", "gaussian"))
    bad = [k for k in kinds if k not in ("linear", "gaussian", "gaussian_rff")]
    if bad:
        raise typer.BadParameter(f"--jsd-kind {bad}: expected linear, gaussian or gaussian_rff")
    config = RepresentConfig(
        model=model, data=data, out=out or Path("runs") / f"represent-{Path(model).name}", layer=layer,
        adapter=adapter, batch_size=batch_size, datasets=split_names(datasets), jsd_kinds=kinds,  # type: ignore[arg-type]
        permutations=permutations, seed=seed, device=device,
    )
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("hidden states", total=None)
        payload = run_represent(config, on_items=lambda n: progress.update(task, advance=n))
    console.print(represent_table(payload))
    for dataset_name, files in payload["plots"].items():
        console.print(f"{dataset_name}: {files['histogram']}  {files['pca']}")
