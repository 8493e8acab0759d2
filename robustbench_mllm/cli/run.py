"""``robust-mllm run CONFIG.yaml``: the whole benchmark from one config file (generate, evaluate,
judge, emid, represent, report), each stage resuming; a rerun with nothing new does nothing."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console


def run(
    config: Path = typer.Argument(..., help="YAML file: suite, protocol, severities, models, judge, output, ..."),
    print_config: bool = typer.Option(
        False, "--print-config", help="Print the resolved config (every default filled in) and exit."),
    translator_base_url: str | None = typer.Option(None, help="OpenAI-compatible server for translations."),
    translator_model: str = typer.Option("gpt-4o", help="Translation model (Azure: deployment name)."),
    translator_azure: bool = typer.Option(False, help="Use Azure OpenAI (AZURE_OPENAI_* variables)."),
    translations: list[Path] = typer.Option([], help="JSONL of translations made elsewhere (repeatable)."),
) -> None:
    """Generate the suite if missing or incomplete, evaluate every model, judge, emid and represent
    where asked, and write the report (OUTPUT/report/report.html)."""
    import yaml

    from robustbench_mllm.cli.generate import _translation_hook
    from robustbench_mllm.perturbations.text.translation_prompt import DEFAULT_PROMPT
    from robustbench_mllm.runners.pipeline import run_pipeline
    from robustbench_mllm.runners.pipeline_config import load_pipeline_config

    resolved = load_pipeline_config(config)
    if print_config:
        typer.echo(yaml.safe_dump(resolved.describe(), sort_keys=False, allow_unicode=True), nl=False)  # unwrapped
        return
    # the suite's translations use our default prompt (its sha256 is in GenerateConfig's defaults)
    hook = _translation_hook(translator_base_url, translator_model, translator_azure, translations, None, DEFAULT_PROMPT)
    outcomes = run_pipeline(resolved, text_hook=hook, announce=lambda stage: console.rule(stage))
    table = Table(title=f"robust-mllm run {config}")
    for column in ("stage", "target", "action", "detail"):
        table.add_column(column)
    for outcome in outcomes:
        table.add_row(outcome.stage, outcome.target, outcome.action, outcome.detail)
    console.print(table)
    report = resolved.report.out / "report.html"
    console.print(f"report: {report}" + ("" if report.is_file() else " (not written)"))
