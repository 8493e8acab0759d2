"""``robust-mllm train`` (and ``python -m robustbench_mllm.train``): LLaVA-1.5's two training
stages, Stage 2 with the Vittle objective (or a baseline).

Light at import time: torch/transformers load inside the command body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console, reported
from robustbench_mllm.train.objective import ALPHA_SCHEDULES, OBJECTIVES


def train(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="LLaVA JSON: blip_laion_cc_sbu_558k (pretrain) or llava_v1_5_mix665k (finetune) format."),
    stage: str = typer.Option("finetune", "--stage", help="pretrain (Stage 1: projector only) | finetune (Stage 2)."),
    base: Path | None = typer.Option(None, "--base", exists=True, file_okay=False, help="HF LLaVA folder to fine-tune (config.json, weights, processor)."),
    llm: Path | None = typer.Option(None, "--llm", exists=True, file_okay=False, help="Causal-LM folder (e.g. vicuna-7b-v1.5), instead of --base."),
    vision_tower: Path | None = typer.Option(None, "--vision-tower", exists=True, file_okay=False, help="CLIP vision folder (e.g. clip-vit-large-patch14-336)."),
    projector: Path | None = typer.Option(None, "--projector", exists=True, dir_okay=False, help="Stage-1 projector: OUT/mm_projector.safetensors or LLaVA's mm_projector.bin."),
    images: Path | None = typer.Option(None, "--images", exists=True, file_okay=False, help="Folder the rows' 'image' paths are relative to."),
    objective: str | None = typer.Option(None, "--objective", help=f"One of {', '.join(OBJECTIVES)} (default: vittle-f; baseline for pretrain)."),
    out: Path = typer.Option(Path("vittle-out"), "--out", help="Output folder (checkpoints, logs, final model)."),
    template: str | None = typer.Option(None, "--template", help="plain | vicuna_v1 (default: plain for pretrain, vicuna_v1 for finetune)."),
    group_by_modality: bool | None = typer.Option(None, "--group-by-modality/--no-group-by-modality", help="Image-only and text-only batches (default: on for finetune)."),
    deepspeed: Path | None = typer.Option(None, "--deepspeed", help="DeepSpeed config file, or 'zero2'/'zero3' (shipped)."),
    max_steps: int = typer.Option(-1, "--max-steps", min=-1, help="Stop after N optimiser steps (default: --epochs, or the released step rule)."),
    epochs: float = typer.Option(1.0, "--epochs", min=0.0),
    layer: int | None = typer.Option(None, "--layer", help="Bottleneck layer for both modalities (default 24)."),
    layer_v: int = typer.Option(24, "--layer-v"),
    layer_t: int = typer.Option(24, "--layer-t"),
    beta: float | None = typer.Option(None, "--beta", min=0, help="KL weight for both modalities (default 0.1)."),
    beta_v: float = typer.Option(0.1, "--beta-v", min=0),
    beta_t: float = typer.Option(0.1, "--beta-t", min=0),
    kl_form: str = typer.Option("exact", "--kl-form", help="exact (closed form) | released (the released code's KL)."),
    alpha_schedule: str = typer.Option("exact", "--alpha-schedule", help=f"{' | '.join(ALPHA_SCHEDULES)}: the paper's cosine | the released sigmoid + step rule."),
    alpha_end: float = typer.Option(0.5, "--alpha-end", min=0, max=1),
    text_kl_tokens: str = typer.Option("instruction", "--text-kl-tokens", help="instruction (released) | all non-pad."),
    compat: str = typer.Option("exact", "--compat", help="exact image-token mask | released positional split."),
    learning_rate: float | None = typer.Option(None, "--lr", min=0, help="Default 1e-3 (pretrain), 2e-5 (finetune), 2e-4 (lora)."),
    weight_decay: float | None = typer.Option(None, "--weight-decay", min=0, help="Default 0 (0.1 for weight-decay)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Per device (default 32 pretrain, 16 finetune)."),
    grad_accum: int = typer.Option(1, "--grad-accum", min=1),
    max_length: int = typer.Option(2048, "--max-length", min=1),
    gradient_checkpointing: bool = typer.Option(True, "--gradient-checkpointing/--no-gradient-checkpointing"),
    pad_square: bool | None = typer.Option(None, "--pad-to-square/--no-pad-to-square", help="Pad images to square (default: finetune yes, pretrain no)."),
    save_steps: int = typer.Option(500, "--save-steps", min=1),
    seed: int = typer.Option(0, "--seed", min=0),
    lora_rank: int = typer.Option(128, "--lora-rank", min=1),
    lora_alpha: int = typer.Option(256, "--lora-alpha", min=1),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT's last checkpoint."),
    local_rank: int = typer.Option(-1, "--local_rank", "--local-rank", hidden=True),  # set by launchers
) -> None:
    """Train LLaVA-1.5 as the paper: Stage 1 (projector) or Stage 2 with baseline, Vittle (F/L), weight decay or LoRA; resumable."""
    from robustbench_mllm.train.objective import ObjectiveConfig
    from robustbench_mllm.train.options import TrainConfig

    name = objective if objective is not None else ("baseline" if stage == "pretrain" else "vittle-f")
    config = TrainConfig(
        data=data, out=out, stage=stage, base=base, llm=llm, vision_tower=vision_tower,  # type: ignore[arg-type]
        projector=projector, images=images, template=template, group_by_modality=group_by_modality,  # type: ignore[arg-type]
        objective=ObjectiveConfig(
            name=name, beta_v=beta if beta is not None else beta_v,  # type: ignore[arg-type]
            beta_t=beta if beta is not None else beta_t, kl_form=kl_form,  # type: ignore[arg-type]
            alpha_schedule=alpha_schedule, alpha_end=alpha_end, text_kl_tokens=text_kl_tokens,  # type: ignore[arg-type]
        ),
        layer_v=layer if layer is not None else layer_v, layer_t=layer if layer is not None else layer_t,
        compat=compat, deepspeed=deepspeed, epochs=epochs, max_steps=max_steps,  # type: ignore[arg-type]
        learning_rate=learning_rate, weight_decay=weight_decay, batch_size=batch_size,
        grad_accum=grad_accum, max_length=max_length, gradient_checkpointing=gradient_checkpointing,
        pad_square=pad_square, save_steps=save_steps, seed=seed, lora_rank=lora_rank,
        lora_alpha=lora_alpha, resume=resume,
    )
    from robustbench_mllm.train.trainer import run_training

    result = run_training(config)
    if result.main_process:
        _print_summary(result.summary, config.log_path())


def _print_summary(summary: dict[str, Any], log_path: Path) -> None:
    from robustbench_mllm.io_utils import read_jsonl

    steps = [r for r in read_jsonl(log_path, tolerate_torn_tail=True) if "loss" in r] if log_path.exists() else []
    table = Table(title=f"train: {summary['stage']} {summary['objective']}")
    for column in ("steps", "first loss", "last loss", "last ce", "last kl_v", "last kl_t", "seconds", "resumed from"):
        table.add_column(column)
    first, last = (steps[0], steps[-1]) if steps else ({}, {})
    table.add_row(
        str(summary["steps"]), *(f"{r[k]:.4f}" if k in r else "-" for r, k in ((first, "loss"), (last, "loss"),
                                                                        (last, "ce"), (last, "kl_v"), (last, "kl_t"))),
        f"{summary['seconds']:.1f}", str(summary["resumed_from"] or "-"),
    )
    console.print(table)
    console.print(f"run length: {summary['step_rule']}")
    if summary.get("text_only_batches"):
        console.print(f"{summary['text_only_batches']} text-only batches (no visual KL; the released code's loss is NaN there)")
    console.print(f"model saved to {summary['options']['out']}")


def main() -> None:
    """``python -m robustbench_mllm.train`` (for ``accelerate launch -m`` / ``deepspeed --module``)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command()(reported(train))
    app()
