"""The ``robust-mllm references`` command (light at import time)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console, split_names
from robustbench_mllm.store.layout import references_dir


def references(
    data: Path = typer.Argument(..., help="Generated data folder (written by `robust-mllm generate`)."),
    model: Optional[str] = typer.Option(
        None, help="Model that writes the references (default gpt-4o, the paper's); for Azure the deployment name."),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible server; with --azure, the resource endpoint."),
    azure: bool = typer.Option(False, help="Azure OpenAI (endpoint, version, deployment from $AZURE_OPENAI_*)."),
    api_version: Optional[str] = typer.Option(None, help="Azure API version."),
    api_key_env: Optional[str] = typer.Option(
        None, help="Variable holding the key [OPENAI_API_KEY; AZURE_OPENAI_API_KEY with --azure]."),
    datasets: Optional[list[str]] = typer.Option(
        None, "--datasets", help="NAME,... (default: lbwild and wvbench, those the paper judges against GPT-4o answers)."),
    concurrency: int = typer.Option(16, min=1, help="Requests in flight."),
    timeout: float = typer.Option(120.0, help="Seconds per request before the SDK retries it."),
    refresh: bool = typer.Option(False, help="Ignore cached answers and ask again."),
    prices: Optional[Path] = typer.Option(None, help="Price table JSON (default: bundled prices.json)."),
) -> None:
    """Generate reference answers once for LB-Wild and WV-Bench (cached, stored in DATA/references/)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from robustbench_mllm.llm.settings import ChatEndpoint, chat_model
    from robustbench_mllm.runners.references import ReferencesConfig, run_references

    endpoint = ChatEndpoint(
        model=chat_model(model, azure), base_url=base_url, azure=azure, api_version=api_version,
        api_key_env=api_key_env, concurrency=concurrency, timeout_s=timeout,
    ).with_environment()
    endpoint.api_key()  # fail before reading any data when no key is configured
    config = ReferencesConfig(data=data, endpoint=endpoint, datasets=split_names(datasets), refresh=refresh,
                              prices=prices)
    columns = (TextColumn("references"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("references", total=None)
        summaries = run_references(config, on_planned=lambda total: progress.update(bar, total=total),
                                   on_answer=lambda: progress.advance(bar))
    table = Table(title=f"Reference answers by {endpoint.model}")
    for column in ("dataset", "items", "answered", "failed", "requests", "from cache", "cost (USD)"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for name, summary in summaries.items():
        usage = summary["usage"]
        counts = [sum(m[key] for m in usage["models"].values()) for key in ("requests", "cache_hits")]
        table.add_row(name, str(summary["n_items"]), str(summary["n_answered"]), str(summary["n_failed"]),
                      *map(str, counts), f"~{usage['estimated_cost_usd']:.4f}")
    console.print(table)
    failed = sum(summary["n_failed"] for summary in summaries.values())
    if failed:
        console.print(f"[yellow]{failed} items got no answer[/yellow]: rerun the command to retry only those")
    total = sum(summary["usage_total"]["estimated_cost_usd"] for summary in summaries.values())
    console.print(f"stored in {references_dir(data)} | total cost so far ~${total:.4f}")
