"""Textual perturbations: questions per second for the nine, then translation of 90 questions x 3
languages against the loopback server (300 ms per request) at concurrency 16 vs 1 (target >= 10x),
then a rerun that must send 0 requests.

    /work/venv/bin/python benchmarks/bench_text.py [--latency 0.3] [--questions 90]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fixtures

from robustbench_mllm.llm.settings import ChatEndpoint  # noqa: E402
from robustbench_mllm.perturbations.text.translation import configure_translation  # noqa: E402
from robustbench_mllm.registry import load_registry  # noqa: E402
from robustbench_mllm.seeding import make_rng  # noqa: E402
from tests.fixtures.fake_openai import FakeOpenAIServer, last_user_text  # noqa: E402

EDITS = ("char_typo", "char_delete", "char_insert", "word_swap", "word_delete", "word_insert")
LANGUAGES = ("arabic", "greek", "hindi")
MARKERS = {"Arabic": "عربي", "Greek": "Ελληνικά", "Hindi": "हिन्दी"}
SUBJECTS = ("man", "woman", "dog", "bus", "kitchen", "skateboarder", "table", "giraffe", "train")
TEMPLATES = (
    "What is the {s} doing in picture {i}?",
    "Describe the {s} and its surroundings in image {i} in detail.",
    "Why might the {s} be there, and what could happen next in scene {i}?",
)


def questions(n: int) -> list[str]:
    return [TEMPLATES[i % 3].format(s=SUBJECTS[i % len(SUBJECTS)], i=i) for i in range(n)]


def fake_translation(body: dict) -> str:
    system = body["messages"][0]["content"]
    marker = next(m for language, m in MARKERS.items() if f"into {language}." in system)
    return f"{marker}: {last_user_text(body)}"


def perturbation_rates(texts: list[str], imports: Path, min_seconds: float = 1.0) -> dict[str, float]:
    """Questions per second of ``apply`` at severity 3 (translation: lookups after ``prepare``)."""
    configure_translation(None, None, [imports])
    registry = load_registry("perturbations")
    rates = {}
    for name in (*EDITS, *(f"translate_{lang}" for lang in LANGUAGES)):
        pert = registry.get(name)
        pert.prepare(texts, 3)
        pert.apply(texts[0], 3, make_rng(0))  # warm-up: loads WordNet / keyboard table once
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds:
            for index, text in enumerate(texts):
                pert.apply(text, 3, make_rng(0, name, 3, index))
            done += len(texts)
        rates[name] = done / elapsed
    return rates


def timed_translation(server: FakeOpenAIServer, cache: Path, concurrency: int, texts: list[str]) -> tuple[float, int]:
    """Seconds to translate ``texts`` into the three languages, and the requests it sent."""
    endpoint = ChatEndpoint(model="bench-translator", base_url=server.base_url, concurrency=concurrency)
    configure_translation(endpoint, cache, [])
    registry = load_registry("perturbations")
    before, start = len(server.requests), time.perf_counter()
    for language in LANGUAGES:
        registry.get(f"translate_{language}").prepare(texts, 3)
    return time.perf_counter() - start, len(server.requests) - before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--questions", type=int, default=90)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    texts = questions(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        imports = Path(tmp) / "translations.jsonl"
        imports.write_text("".join(
            json.dumps({"source": t, "language": lang, "text": f"{MARKERS[lang.title()]}: {t}"}) + "\n"
            for t in texts for lang in LANGUAGES
        ), encoding="utf-8")
        rates = perturbation_rates(texts, imports)
        with FakeOpenAIServer(fake_translation, latency_s=args.latency) as server:
            rows = {c: timed_translation(server, Path(tmp) / f"c{c}.sqlite", c, texts) for c in (1, 16)}
            rows[0] = timed_translation(server, Path(tmp) / "c16.sqlite", 16, texts)  # rerun: cache
    print(f"text perturbations at severity 3, {len(texts)} questions")
    print(f"{'perturbation':<20}{'questions/s':>12}")
    for name, rate in rates.items():
        print(f"{name:<20}{rate:>12.0f}")
    n = len(texts) * len(LANGUAGES)
    print(f"\ntranslation: {len(texts)} questions x {len(LANGUAGES)} languages = {n} requests, "
          f"server latency {args.latency * 1000:.0f} ms")
    print(f"{'pass':<20}{'seconds':>10}{'requests':>10}{'req/s':>8}")
    for label, key in (("concurrency 1", 1), ("concurrency 16", 16), ("rerun (cache)", 0)):
        seconds, sent = rows[key]
        print(f"{label:<20}{seconds:>10.2f}{sent:>10}{sent / seconds:>8.1f}")
    speedup = rows[1][0] / rows[16][0]
    print(f"speed-up 16 vs 1: {speedup:.1f}x (target >= 10x); rerun requests: {rows[0][1]} (target 0)")


if __name__ == "__main__":
    main()
