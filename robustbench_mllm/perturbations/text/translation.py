"""Sentence-level perturbations: the question translated into Arabic, Greek or Hindi.

Translations come, in this order, from: the translations the sample suite ships, files imported
with ``--translations``, translations fetched earlier in this process, and an OpenAI-compatible
chat API (through ``llm.client``: GPT-4o unless told otherwise, temperature 0, our own prompt or
the user's ``--translation-prompt``, see ``translation_prompt``) whose answers persist in the
response cache, so a second run sends no request. ``prepare`` fetches every missing translation of
a variant concurrently before ``apply`` looks them up. With no translator configured a missing
translation is an error saying how to configure one, never the English question passed through.

The generate command calls ``configure_translation`` from its ``--translator-*``,
``--translations`` and ``--translation-cache`` options; without it only the shipped translations
are available.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from robustbench_mllm.errors import ConfigError, RemoteError
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.perturbations.base import Perturbation, check_severity, register_perturbation
from robustbench_mllm.perturbations.text.protect import SPECIAL_TOKEN
from robustbench_mllm.perturbations.text.translation_files import (
    LANGUAGES,
    in_target_script,
    read_translations,
    sample_translations_file,
)
from robustbench_mllm.perturbations.text.translation_prompt import DEFAULT_PROMPT, TranslationPrompt

CACHE_ENV = "ROBUST_MLLM_CACHE_DIR"
_EDGE_TOKENS = re.compile(
    rf"(?P<head>(?:\s*{SPECIAL_TOKEN.pattern})*\s*)(?P<core>.*?)(?P<tail>\s*(?:{SPECIAL_TOKEN.pattern}\s*)*)",
    re.DOTALL,
)


class TranslationUnavailableError(ConfigError):
    """A question has no translation and none could be obtained."""


def default_cache_path() -> Path:
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "robust-mllm"
    return Path(root) / "translations.sqlite"


@dataclass(frozen=True)
class TranslationConfig:
    endpoint: ChatEndpoint | None = None
    cache_path: Path | None = None
    imports: tuple[Path, ...] = ()
    prompt: TranslationPrompt = DEFAULT_PROMPT


class _Translations:
    """Known translations plus the means to fetch missing ones (the module's state)."""

    def __init__(self, config: TranslationConfig) -> None:
        from robustbench_mllm.llm.usage import UsageMeter

        self.config = config
        self.table: dict[tuple[str, str], str] = {}
        for path in (sample_translations_file(), *config.imports):  # later files win
            self.table.update(read_translations(path))
        self.usage = UsageMeter()
        self._lock = threading.Lock()

    def missing(self, sources: Sequence[str], language: str) -> list[str]:
        return sorted({s for s in sources if (s, language) not in self.table})

    def ensure(self, sources: Sequence[str], language: str) -> None:
        with self._lock:
            missing = self.missing(sources, language)
            if not missing:
                return
            if self.config.endpoint is None:
                raise TranslationUnavailableError(_how_to_configure(missing, language))
            self._fetch(self.config.endpoint, missing, language)

    def _fetch(self, endpoint: ChatEndpoint, sources: list[str], language: str) -> None:
        from rich.console import Console

        from robustbench_mllm.llm.cache import ResponseCache
        from robustbench_mllm.llm.client import ChatRequest, ChatResult, run_chat_many

        name = LANGUAGES[language][0]
        prompt = self.config.prompt
        parts = [_split_edge_tokens(s) for s in sources]
        requests = [
            ChatRequest(
                messages=prompt.messages(name, core),
                key_parts={"task": "translate", "language": language, "prompt": prompt.cache_tag},
            )
            for _, core, _ in parts
        ]
        # plain lines, no progress bar of our own: the generate command's bar is live meanwhile
        console = Console(stderr=True)
        console.print(f"translating {len(sources)} question(s) into {name} with {endpoint.model} "
                      f"(up to {endpoint.concurrency} at a time)")
        cache_path = self.config.cache_path or default_cache_path()
        with ResponseCache(cache_path) as cache:
            def send(batch: list[ChatRequest], refresh: bool) -> list[ChatResult]:
                return run_chat_many(
                    endpoint, batch, cache=cache, usage=self.usage, validation_retries=2,
                    validator=lambda text: _plausible(text, language), refresh=refresh,
                )

            results = send(requests, refresh=False)
            # the cache keeps rejected replies too; ask again for those instead of failing forever
            stale = [i for i, r in enumerate(results) if r.cached and not r.ok]
            for index, result in zip(stale, send([requests[i] for i in stale], True), strict=True):
                results[index] = result
        failures: list[str] = []
        for source, (head, core, tail), result in zip(sources, parts, results, strict=True):
            text = (result.text or "").strip()
            lost = set(SPECIAL_TOKEN.findall(core)) - set(SPECIAL_TOKEN.findall(text))
            if result.ok and text and not lost:
                self.table[(source, language)] = head + text + tail
            else:
                error = result.error or f"the translation dropped {sorted(lost)}"
                failures.append(f"{source[:60]!r}: {error}")
        usage = self.usage.by_model().get(endpoint.model)
        if usage is not None:
            console.print(
                f"translation ({name}, {endpoint.model}): {len(sources) - len(failures)}/"
                f"{len(sources)} translated; {usage.requests} requests, {usage.cache_hits} cached, "
                f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens so far"
            )
        if failures:  # the server failed while working: exit 1, one line
            raise RemoteError(
                f"{len(failures)} of {len(sources)} questions could not be translated into {name} "
                f"(first: {failures[0]}); the others are cached: check `translator_base_url` and rerun to retry these"
            )

    def lookup(self, source: str, language: str) -> str:
        self.ensure([source], language)
        return self.table[(source, language)]


def _split_edge_tokens(source: str) -> tuple[str, str, str]:
    """``"<image>\\nWhat is it?"`` -> ``("<image>\\n", "What is it?", "")``: special tokens (and the
    whitespace around them) at either end are kept out of the request and put back verbatim."""
    match = _EDGE_TOKENS.fullmatch(source)
    assert match is not None  # the pattern matches any string
    return match.group("head"), match.group("core"), match.group("tail")


def _plausible(text: str, language: str) -> bool:
    """A reply counts as a translation when it has letters of the target script (an English echo
    or a refusal does not)."""
    return in_target_script(text, language)


def _how_to_configure(missing: list[str], language: str) -> str:
    return (
        f"{len(missing)} question(s) have no {LANGUAGES[language][0]} translation, e.g. "
        f"{missing[0][:80]!r}, and no translator is configured. Either import translations with "
        "`translations` FILE (JSONL lines {\"source\", \"language\", \"text\"}) or configure an "
        "OpenAI-compatible chat API: `translator_model` gpt-4o with $OPENAI_API_KEY set, "
        "`translator_base_url` URL for a local server (vLLM, SGLang, Ollama), or "
        "`translator_azure` with $AZURE_OPENAI_API_KEY and $AZURE_OPENAI_ENDPOINT."
    )


_state_lock = threading.Lock()
_state: _Translations | None = None


def configure_translation(
    endpoint: ChatEndpoint | None, cache_path: Path | None, imports: Sequence[Path],
    prompt: TranslationPrompt = DEFAULT_PROMPT,
) -> None:
    """Set where translations come from and the prompt that asks for them, for the rest of the
    process (reads ``imports`` now, so a bad file fails before any work starts)."""
    global _state
    config = TranslationConfig(endpoint, Path(cache_path) if cache_path else None,
                               tuple(Path(p) for p in imports), prompt)
    with _state_lock:
        _state = _Translations(config)


def _current() -> _Translations:
    global _state
    with _state_lock:
        if _state is None:
            _state = _Translations(TranslationConfig())
        return _state


def translation_usage() -> dict[str, Any]:
    """Requests, cache hits and tokens spent on translation so far (for results and reports)."""
    return _current().usage.summary()


class Translation(Perturbation):
    """Replace the question by its translation (the same at every severity)."""

    modality = "text"
    category = "sentence"
    language: ClassVar[str]

    def params(self, severity: int) -> str:
        return f"{LANGUAGES[self.language][0]}; same at every severity"

    def prepare(self, values: Sequence[Any], severity: int) -> None:
        _current().ensure([str(v) for v in values], self.language)

    def apply(self, value: str, severity: int, rng: np.random.Generator) -> str:
        check_severity(severity)
        return _current().lookup(value, self.language)


@register_perturbation("translate_arabic")
class TranslateArabic(Translation):
    language = "arabic"


@register_perturbation("translate_greek")
class TranslateGreek(Translation):
    language = "greek"


@register_perturbation("translate_hindi")
class TranslateHindi(Translation):
    language = "hindi"
