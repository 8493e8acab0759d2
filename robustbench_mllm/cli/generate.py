"""``robust-mllm generate``: options, translation set-up, progress bar, summary table. Light at
import time: the work happens in ``runners.generate``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from robustbench_mllm.cli.common import console, cost_text

if TYPE_CHECKING:
    from robustbench_mllm.perturbations.text.translation_prompt import TranslationPrompt
    from robustbench_mllm.runners.generate.plan import GenerateConfig
    from robustbench_mllm.runners.generate.run import GenerateSummary


def _translation_hook(
    base_url: Optional[str], model: str, azure: bool, imports: list[Path], cache: Optional[Path],
    prompt: TranslationPrompt,
) -> Callable[[frozenset[str]], None]:
    def configure(text_names: frozenset[str]) -> None:
        if not any(name.startswith("translate_") for name in text_names):
            return
        from robustbench_mllm.llm.settings import ChatEndpoint
        from robustbench_mllm.perturbations.text.translation import configure_translation

        wants_api = base_url or azure or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
        endpoint = ChatEndpoint(model=model, base_url=base_url, azure=azure) if wants_api else None
        configure_translation(endpoint, cache, imports, prompt)

    return configure


def _print_translation_usage() -> None:
    from robustbench_mllm.perturbations.text.translation import translation_usage

    models = translation_usage().get("models") or {}
    if not models:
        console.print("translations: all from the cache or imported files (no API requests)")
    for model, usage in models.items():
        counts = ", ".join(f"{usage[k]} {k.replace('_', ' ')}" for k in ("requests", "cache_hits", "prompt_tokens",
                                                                          "completion_tokens"))
        cost = cost_text({"models": {model: usage}, "estimated_cost_usd": usage["estimated_cost_usd"]},
                         "$ROBUST_MLLM_PRICES=FILE")
        console.print(f"translations with {model}: {counts}, {cost}")


def _text_settings(config: GenerateConfig, prompt: TranslationPrompt, summary: GenerateSummary) -> list[str]:
    """One line each for the word-edit similarity filter and the translation prompt, when the
    run wrote variants they shaped."""
    from robustbench_mllm.protocols import get_protocol
    from robustbench_mllm.records import VariantSpec

    texts = {t for r in summary.written if (t := VariantSpec.parse(r.variant).text)}
    lines = []
    if get_protocol(config.protocol).text_edits == "mm_robustness" and any(t.startswith("word_") for t in texts):
        state = (f"on ({config.similarity_model}, cosine >= 0.9, up to 100 tries)" if config.similarity_model
                 else "off (no --similarity-model)")
        lines.append(f"word edits (EDA): similarity filter {state}")
    if any(t.startswith("translate_") for t in texts):
        lines.append(f"translation prompt: {prompt.origin} (sha256 {prompt.sha256[:12]})")
    return lines


def _summary(summary: GenerateSummary) -> Table:
    table = Table(title=f"Generated into {summary.out}")
    for column in ("dataset", "variant", "rows", "seconds"):
        table.add_column(column, justify="right" if column in ("rows", "seconds") else "left")
    for result in summary.written:
        table.add_row(result.dataset, result.variant, str(result.rows), f"{result.seconds:.1f}")
    for dataset, variant in summary.existing:
        table.add_row(dataset, variant, "-", "kept (already on disk)")
    return table


def generate(
    suite: str = typer.Option("sample", help="sample | lbcoco | pope | lbwild | lbwilder | wvbench | scienceqa_img | "
                              "mmmu | mme | mmstar"),
    protocol: str = typer.Option("vittle", help="Benchmark recipe: vittle (the paper's, default) | canonical. "
                                 "See `robust-mllm list protocols`."),
    source: Optional[str] = typer.Option(None, help="Folder with the suite's files, a Hub id, or a local copy of one."),
    images: Optional[str] = typer.Option(None, help="COCO val2014 image folder (with local lbcoco/pope files)."),
    severity: str = typer.Option("3", help="Severity 1-5, or a list like 1,3,5."),
    perturbations: Optional[str] = typer.Option(
        None, help="Comma list of names (frost, char_typo, frost+translate_greek) or visual|text|joint|all. "
        "Default: all for open-ended sets, visual for yes/no sets, clean only for the suites the paper evaluates "
        "unperturbed (lbwild ... mmstar). clean is always made."),
    engine: str = typer.Option("fast", help="fast (ours, vectorised) | reference (the per-image code: imagecorruptions "
                               "under canonical, a port of MM_Robustness's under vittle)"),
    seed: int = typer.Option(0, min=0),
    num_proc: int = typer.Option(1, min=1, envvar="ROBUST_MLLM_NUM_PROC", help="Worker processes (output bytes do not depend on it)."),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N items of each split."),
    image_format: Optional[str] = typer.Option(
        None, help="png | jpeg (Pillow, 4:4:4), protocol canonical only; default: the protocol's storage "
        "(vittle: OpenCV JPEG q95 4:2:0, as the paper's reference code; canonical: png)."),
    quality: Optional[int] = typer.Option(None, min=1, max=100, help="JPEG quality (protocol canonical with --image-format jpeg; default 95)."),
    assets: Optional[Path] = typer.Option(
        None, help="Folder with MM_Robustness's own frost1.png..frost5.jpg (protocol vittle; checked by sha256). "
        "Default: derived from imagecorruptions' textures."),
    on_error: str = typer.Option("fail", help="fail | skip (items with a bad image or an empty question go to failures.jsonl)"),
    allow_nonstandard: bool = typer.Option(False, help="Accept a POPE split whose length is not 3000."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default generated/<suite>)."),
    translator_base_url: Optional[str] = typer.Option(None, envvar="ROBUST_MLLM_TRANSLATOR_BASE_URL", help="OpenAI-compatible server for translations (default $OPENAI_BASE_URL, else OpenAI)."),
    translator_model: str = typer.Option("gpt-4o", envvar="ROBUST_MLLM_TRANSLATOR_MODEL", help="Translation model (Azure: deployment name)."),
    translator_azure: bool = typer.Option(False, help="Use Azure OpenAI (AZURE_OPENAI_* variables)."),
    translations: list[Path] = typer.Option([], help="JSONL of translations made elsewhere (repeatable)."),
    translation_cache: Optional[Path] = typer.Option(None, envvar="ROBUST_MLLM_TRANSLATION_CACHE", help="Translation cache file (default: the translator's own)."),
    translation_prompt: Optional[Path] = typer.Option(
        None, help="Prompt file for the translator, e.g. the Vittle paper's or README's wording ({target}, {source}, "
        "{sentence} placeholders); default: ours. Its sha256 goes into the manifest."),
    similarity_model: Optional[str] = typer.Option(
        None, help="Sentence-embedding model (folder or hub id) for EDA's similarity filter on the vittle protocol's "
        "word edits (cosine >= 0.9 to the question, up to 100 tries). Default: filter off."),
) -> None:
    """Write clean and perturbed variants of a suite as parquet data sets, plus manifest.json."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from robustbench_mllm.perturbations.text.translation_prompt import DEFAULT_PROMPT, read_translation_prompt
    from robustbench_mllm.protocols import get_protocol
    from robustbench_mllm.runners.generate.plan import GenerateConfig, output_root, parse_severities
    from robustbench_mllm.runners.generate.run import run_generate

    choices = {"engine": (engine, ("fast", "reference")), "image-format": (image_format, ("png", "jpeg")),
               "on-error": (on_error, ("fail", "skip"))}
    for option, (value, allowed) in choices.items():
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"--{option} {value!r}: choose one of {', '.join(allowed)}")
    prompt = read_translation_prompt(translation_prompt) if translation_prompt else DEFAULT_PROMPT
    config = GenerateConfig(
        suite=suite, protocol=get_protocol(protocol).name, source=source, images=images, severities=parse_severities(severity),
        perturbations=perturbations, engine=engine, seed=seed, limit=limit,  # type: ignore[arg-type]
        image_format=image_format, quality=quality, on_error=on_error,  # type: ignore[arg-type]
        allow_nonstandard=allow_nonstandard, assets=str(assets) if assets else None,
        similarity_model=similarity_model, translation_prompt_sha256=prompt.sha256,
    )
    root = output_root(out, suite)
    hook = _translation_hook(translator_base_url, translator_model, translator_azure, translations, translation_cache,
                             prompt)
    with Progress(TextColumn("variants"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        def start(total: int) -> Callable[[int], None]:
            task = bar.add_task("variants", total=total)
            return lambda n: bar.advance(task, n)

        summary = run_generate(config, root, num_proc=num_proc, text_hook=hook, progress=start)
    console.print(_summary(summary))
    from robustbench_mllm.runners.generate.protocol_record import protocol_line

    console.print(protocol_line(summary.protocol), soft_wrap=True)
    for line in _text_settings(config, prompt, summary):
        console.print(line)
    if any("translate_" in r.variant for r in summary.written):
        _print_translation_usage()
    if summary.failures:
        console.print(f"[yellow]{len(summary.failures)} item(s) skipped (bad image or empty question): {root / 'failures.jsonl'}")
