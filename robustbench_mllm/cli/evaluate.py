"""``robust-mllm evaluate``: answer every item of the generated variants with one model (light
imports; the work is imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console, print_error, split_names


def summary_table(payload: dict[str, Any]) -> Table:
    from robustbench_mllm.runners.evaluate.scoring import headline

    table = Table(title="evaluate")
    for column in ("dataset", "variant", "task", "answered", "result"):
        table.add_column(column)
    for dataset, variants in payload["datasets"].items():
        for variant, summary in variants.items():
            answered = f"{summary['answered']}/{summary['items']}"
            table.add_row(dataset, variant, summary["task"], answered, headline(summary))
    return table


def evaluate(
    model: str = typer.Option(..., "--model", help="Model folder, or a served model name with --base-url."),
    data: Path = typer.Option(..., "--data", help="Output folder of `robust-mllm generate`."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<model name>)."),
    adapter: Optional[str] = typer.Option(None, "--adapter", help="Force an adapter (see `list models`)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Variable holding the API key."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Requests in flight (openai adapter)."),
    max_retries: int = typer.Option(5, "--max-retries", min=0, help="Retries per request on 429/5xx/timeouts (openai)."),
    request_timeout: float = typer.Option(120.0, "--request-timeout", min=0.1, help="Seconds per request (openai)."),
    variants: Optional[list[str]] = typer.Option(
        None, "--variants", help="Variants to run: NAME,... (repeatable; default all)."
    ),
    datasets: Optional[list[str]] = typer.Option(
        None, "--datasets", help="Datasets to run: NAME,... (repeatable; default all)."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Items per generate call."),
    device: str = typer.Option("auto", "--device", envvar="ROBUST_MLLM_DEVICE", help="auto | cpu | cuda | cuda:N"),
    dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | bfloat16 | float16"),
    max_new_tokens: Optional[int] = typer.Option(
        None, "--max-new-tokens", min=1, help="Default: 1024 for open-ended, 128 for yes/no and multiple choice."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N items of each variant."),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: this machine's share (0-based i)."),
    pad_to_square: Optional[bool] = typer.Option(
        None, "--pad-to-square/--no-pad-to-square",
        help="Pad images to a square with the CLIP mean colour (original LLaVA preprocessing). Default: "
        "what the checkpoint's robust_mllm.json records, else off for llava-hf and on for llava-original.",
    ),
    compat: str = typer.Option("exact", "--compat", help="vittle: exact image-token mask, or 'released'."),
    vittle_layer_v: Optional[int] = typer.Option(None, "--vittle-layer-v", min=0, help="vittle: visual layer."),
    vittle_layer_t: Optional[int] = typer.Option(None, "--vittle-layer-t", min=0, help="vittle: text layer."),
    vittle_alpha: Optional[float] = typer.Option(None, "--vittle-alpha", min=0, max=1, help="vittle: mixing weight."),
    vision_tower: Optional[Path] = typer.Option(
        None, "--vision-tower", help="llava-original: local CLIP folder when the checkpoint lacks it."
    ),
    protocol: Optional[str] = typer.Option(
        None, "--protocol", help="Prompt, template, padding and scoring recipe: vittle | canonical "
        "(default: the one recorded with the data). See `robust-mllm list protocols`.",
    ),
    system_prompt_file: Optional[Path] = typer.Option(
        None, "--system-prompt-file", help="Replace the system message of the llava_v1 / vicuna_v1 prompt (LLaVA adapters)."
    ),
) -> None:
    """Answer every item of the generated variants with one model (resumable, shardable)."""
    from robustbench_mllm.models.options import LoadOptions
    from robustbench_mllm.runners.evaluate.run import EvaluateConfig, run_evaluate
    from robustbench_mllm.runners.evaluate.shard import Shard

    options = LoadOptions(
        device=device, dtype=dtype, pad_to_square=pad_to_square, compat=compat,  # type: ignore[arg-type]
        vittle_layer_v=vittle_layer_v, vittle_layer_t=vittle_layer_t, vittle_alpha=vittle_alpha,
        vision_tower=vision_tower, system_prompt_file=system_prompt_file, base_url=base_url,
        api_key_env=api_key_env, concurrency=concurrency, max_retries=max_retries, timeout_s=request_timeout,
    )
    config = EvaluateConfig(
        model=model, data=data, out=out or Path("runs") / Path(model.rstrip("/")).name, adapter=adapter,
        variants=split_names(variants), datasets=split_names(datasets), batch_size=batch_size,
        max_new_tokens=max_new_tokens, limit=limit, shard=Shard.parse(shard), options=options,
        protocol=protocol,
    )
    outcome = run_evaluate(config)
    console.print(summary_table(outcome.results))
    console.print(
        f"{outcome.generated} answers generated, {outcome.skipped} already done; run folder {config.out}"
    )
    if outcome.failed:
        print_error(f"{outcome.failed} item(s) got no answer (first error: {outcome.errors[0]})",
                    "rerun the same command to retry them")
        raise typer.Exit(1)
