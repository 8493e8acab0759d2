"""The ``emid`` command (light at import: the body imports torch and transformers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from robustbench_mllm.cli.common import console, split_names
from robustbench_mllm.metrics.embeddings import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER


def _jsd_cell(term: dict[str, Any]) -> str:
    return f"{term['value']:.3f} ({term['baseline']:.3f})"


def emid_table(payload: dict[str, Any]) -> Any:
    """One row per dataset and variant; every JSD shows its same-distribution baseline in ()."""
    from rich.table import Table

    table = Table(title=f"EMID; bound: {payload['bound_label']} ({payload['bound_form']}; JSD "
                        f"{payload['jsd']['kind']}, permutation baseline in parentheses)")
    for column in ("dataset", "variant", "n", "EMI", "EMID", "JSD image", "JSD question",
                   "JSD ans clean", "JSD ans variant", "bound"):
        table.add_column(column, justify="left" if column in ("dataset", "variant") else "right")
    for dataset, rows in payload["datasets"].items():
        for variant, row in rows.items():
            cells = [dataset, variant, str(row["n"]), f"{row['emi']:.3f}", f"{row['emid']:.3f}"]
            if "bound" in row:
                cells += [_jsd_cell(row[k]) for k in ("jsd_image", "jsd_question", "jsd_answers_clean",
                                                      "jsd_answers_variant")]
                cells.append(f"{row['bound']:.3f} ({row['bound_baseline']:.3f})")
            else:
                cells += ["-"] * 5
            table.add_row(*cells)
    return table


def emid(
    run_dir: Path = typer.Argument(..., help="Run folder written by `robust-mllm evaluate`."),
    estimator: Optional[Path] = typer.Option(
        None, help="A CLUB estimator: a saved folder (club.json + club.safetensors) or a local copy of the official "
        "CLUB_global.pt [default: the protocol's: vittle the official one, fetched pinned and cached; canonical one "
        "trained per suite and stored in it]."),
    train_on: Optional[list[Path]] = typer.Option(None, "--train-on", help="Run folder(s) to train the CLUB estimator on instead (saved in RUN_DIR/emid/estimator)."),
    protocol: Optional[str] = typer.Option(None, help="Protocol whose estimator applies [default: the one recorded with the data]."),
    datasets: Optional[list[str]] = typer.Option(
        None, "--datasets", help="NAME,... to use, repeatable (default: every open-ended dataset; a yes/no one named "
        "here uses its labels as reference answers, with a warning)."),
    image_encoder: str = typer.Option(DEFAULT_IMAGE_ENCODER, envvar="ROBUST_MLLM_IMAGE_ENCODER", help="CLIP model: hub id or local folder."),
    text_encoder: str = typer.Option(DEFAULT_TEXT_ENCODER, envvar="ROBUST_MLLM_TEXT_ENCODER", help="XLM-R model: hub id or local folder."),
    image_pooling: str = typer.Option("patch_mean", help="patch_mean (official) or pooled."),
    text_pooling: str = typer.Option("layer0_mean", help="layer0_mean (official) or last_mean."),
    data: Optional[Path] = typer.Option(None, help="Generated data folder (default: from RUN_DIR/run.json)."),
    jsd_kind: str = typer.Option("linear", help="JSD for the bound terms: linear, gaussian or gaussian_rff."),
    permutations: int = typer.Option(20, min=1, help="Re-splits for the same-distribution JSD baseline."),
    entropy_scale: Optional[float] = typer.Option(None, min=0, help="H in H*(Dv^1/2+Dt^1/2)+4*(..); default: scale-adjusted bound."),
    seed: int = typer.Option(0, min=0, help="Seed for the estimator training and the JSD baselines."),
    club_max_steps: int = typer.Option(3000, min=1, help="Most CLUB training steps (early stopping may end sooner)."),
    batch_size: int = typer.Option(32, min=1, help="Embedding batch size."),
    device: str = typer.Option("auto", envvar="ROBUST_MLLM_DEVICE", help="auto, cpu or cuda."),
) -> None:
    """EMI, EMID and the EMID upper-bound terms of a run (results section "emid")."""
    from rich.progress import Progress

    from robustbench_mllm.metrics.club import ClubTraining
    from robustbench_mllm.models.options import resolve_device
    from robustbench_mllm.runners.emid import EmidConfig, run_emid

    if jsd_kind not in ("linear", "gaussian", "gaussian_rff"):
        raise typer.BadParameter(f"--jsd-kind {jsd_kind!r}: expected linear, gaussian or gaussian_rff")
    config = EmidConfig(
        run_dir=run_dir, data=data, estimator=estimator, train_on=tuple(train_on or ()),
        datasets=split_names(datasets),
        image_encoder=image_encoder, text_encoder=text_encoder, image_pooling=image_pooling,  # type: ignore[arg-type]
        text_pooling=text_pooling, jsd_kind=jsd_kind, permutations=permutations, seed=seed,  # type: ignore[arg-type]
        entropy_scale=entropy_scale, batch_size=batch_size, device=resolve_device(device),
        training=ClubTraining(seed=seed, max_steps=club_max_steps), protocol=protocol,
    )
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("embedding variants", total=None)
        payload = run_emid(config, on_variant=lambda name: progress.update(task, advance=1, description=name))
    closed_form = ", ".join(payload["closed_form_datasets"])
    if closed_form and payload["dataset_scope"] == "named":
        console.print(f"[yellow]warning:[/yellow] yes/no datasets {closed_form}: their labels served as reference "
                      "answers (the paper computes EMID on open-ended answers only)")
    elif closed_form:
        console.print(f"skipped yes/no datasets {closed_form} (EMID needs reference answers; see --datasets)")
    console.print(emid_table(payload))
    console.print(f"estimator: {payload['estimator']['origin']} ({payload['estimator']['path']})")
    for dataset, mean in payload["mean_emid"].items():
        console.print(f"{dataset}: mean EMID over {mean['n_variants']} shifted variants {mean['mean']:.4f}"
                      + (" (the paper's Table 4 number)" if mean["n_variants"] == 27 else ""))
