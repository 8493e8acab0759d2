"""The ``robust-mllm judge`` command (light at import time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console, cost_text, print_error
from robustbench_mllm.store.layout import RESULTS
from robustbench_mllm.store.variants import variant_order

CATEGORY_ORDER = ("conv", "detail", "complex")  # LLaVA-Bench's order; others follow alphabetically


def _summary_tables(payload: dict[str, Any]) -> list[Table]:
    tables = []
    for dataset, variants in payload["datasets"].items():
        found = {g for v in variants.values() for g in v["mean_over_runs"]} - {"overall"}
        groups = [g for g in CATEGORY_ORDER if g in found] + sorted(found - set(CATEGORY_ORDER))
        table = Table(title=f"Relative preference: {dataset} (mean of {payload['runs']} runs)")
        for column in ("variant", *groups, "overall", "failed"):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for variant in sorted(variants, key=variant_order):
            means = variants[variant]["mean_over_runs"]
            cells = [
                "-" if means.get(g, {}).get("score") is None else f"{means[g]['score']:.1f}"
                for g in (*groups, "overall")
            ]
            table.add_row(variant, *cells, str(means["overall"]["n_failed"]))
        tables.append(table)
    return tables


def judge(
    run_dir: Path = typer.Argument(..., help="Run folder written by `robust-mllm evaluate`."),
    judge_model: Optional[str] = typer.Option(
        None, envvar="ROBUST_MLLM_JUDGE_MODEL", help="Judge model (default gpt-4o); for Azure the deployment name (default $AZURE_OPENAI_DEPLOYMENT)."
    ),
    base_url: Optional[str] = typer.Option(
        None, envvar="ROBUST_MLLM_JUDGE_BASE_URL",
        help="OpenAI-compatible server (vLLM, SGLang...; default $OPENAI_BASE_URL, else OpenAI); with --azure, "
        "the resource endpoint."
    ),
    azure: bool = typer.Option(
        False, help="Azure OpenAI: endpoint, API version and deployment default to $AZURE_OPENAI_ENDPOINT, "
        "$OPENAI_API_VERSION (or $AZURE_OPENAI_API_VERSION) and $AZURE_OPENAI_DEPLOYMENT."
    ),
    api_version: Optional[str] = typer.Option(None, help="Azure API version."),
    api_key_env: Optional[str] = typer.Option(
        None, help="Variable holding the key [OPENAI_API_KEY; AZURE_OPENAI_API_KEY with --azure]."
    ),
    runs: int = typer.Option(3, min=1, help="Judge runs averaged (the paper uses 3)."),
    temperature: float = typer.Option(0.0, min=0, max=2, help="Judge temperature (Vittle 0, LLaVA 0.2)."),
    prompt: Optional[str] = typer.Option(
        None, help="Judge prompt: llava_rules (the paper's rule.json, fetched from its pinned commit and cached) "
        "or robust-mllm (our own wording) [default: the protocol's]."),
    rules: Optional[Path] = typer.Option(None, help="A local rule.json (LLaVA's format) instead of the pinned download."),
    protocol: Optional[str] = typer.Option(None, help="Protocol whose judge choices apply [default: the one recorded with the data]."),
    judge_question: Optional[str] = typer.Option(
        None, help="Question shown to the judge for text variants: perturbed or clean [default: the protocol's]."),
    reference_answers: str = typer.Option(
        "generated", help="LB-Wild/WV-Bench Assistant 1: generated (the GPT-4o answers of `robust-mllm references`, "
        "as the paper) or dataset (the data set's own answers)."),
    concurrency: int = typer.Option(16, min=1, help="Requests in flight."),
    max_retries: int = typer.Option(3, min=0, help="Retries of an unparseable judge reply."),
    timeout: float = typer.Option(
        60.0, "--timeout", "--request-timeout", min=0.1, help="Seconds per request before the SDK retries it."
    ),
    refresh: bool = typer.Option(False, help="Ignore cached responses and ask again."),
    data: Optional[Path] = typer.Option(None, help="Generated data dir (default: from run.json)."),
    prices: Optional[Path] = typer.Option(None, help="Price table JSON (default: bundled prices.json)."),
) -> None:
    """Score open-ended answers with an LLM judge (LLaVA-Bench relative preference)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from robustbench_mllm.llm.settings import ChatEndpoint, chat_model
    from robustbench_mllm.runners.judge import JudgeConfig, run_judge

    columns = (TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    choices = {"prompt": (prompt, ("llava_rules", "robust-mllm")), "judge_question": (judge_question, ("perturbed", "clean")),
               "reference_answers": (reference_answers, ("generated", "dataset"))}
    for name, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"--{name.replace('_', '-')} {value!r}: expected {' or '.join(allowed)}")
    endpoint = ChatEndpoint(
        model=chat_model(judge_model, azure), base_url=base_url, azure=azure, api_version=api_version,
        api_key_env=api_key_env, concurrency=concurrency, timeout_s=timeout,
    ).with_environment()
    endpoint.api_key()  # fail before reading any data when no key is configured
    config = JudgeConfig(
        run_dir=run_dir, endpoint=endpoint, prompt_name=prompt, rules=rules, protocol=protocol,  # type: ignore[arg-type]
        judge_question=judge_question, reference_answers=reference_answers,  # type: ignore[arg-type]
        runs=runs, temperature=temperature, max_retries=max_retries, refresh=refresh,
        data=data, prices=prices,
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("judge", total=None)
        payload = run_judge(
            config,
            on_planned=lambda total: progress.update(bar, total=total),
            on_judgment=lambda _: progress.advance(bar),
        )
    for table in _summary_tables(payload):
        console.print(table)
    usage, total = payload["usage"], payload["usage_total"]
    tokens = sum(m["prompt_tokens"] + m["completion_tokens"] for m in usage["models"].values())
    hits = sum(m["cache_hits"] for m in usage["models"].values())
    console.print(
        f"prompt {payload['prompt']['id']} ({payload['judge_question']} question) | {payload['n_judgments']} judgments, "
        f"{payload['n_failed']} failed (excluded) | {hits} from cache | {tokens} tokens billed, "
        f"{cost_text(usage)} (run total {cost_text(total)} over "
        f"{total['invocations']} invocations) | results: {run_dir / RESULTS}"
    )
    if payload["n_judgments"] and payload["n_failed"] == payload["n_judgments"]:  # nothing came back: not a score
        print_error(f"all {payload['n_judgments']} judgments failed; is the judge server at "
                    f"{endpoint.describe()['base_url']} reachable?", "fix it and rerun the same command")
        raise typer.Exit(1)
