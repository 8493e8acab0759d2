"""Translation against the loopback OpenAI-compatible server: faults, cache, imports, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from robustbench_mllm.errors import DataFormatError, RemoteError
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.perturbations.text import translation
from robustbench_mllm.perturbations.text.translation import (
    TranslationUnavailableError,
    configure_translation,
    translation_usage,
)
from robustbench_mllm.perturbations.text.translation_files import in_target_script
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng
from tests.fixtures.fake_openai import FakeOpenAIServer, FaultPlan, last_user_text

MARKERS = {"Arabic": "عربي", "Greek": "Ελληνικά", "Hindi": "हिन्दी"}
QUESTIONS = [f"What is object number {i} doing in the picture?" for i in range(24)]


def fake_translation(body: dict[str, Any]) -> str:
    """Deterministic: the target language's marker (from the system prompt) + the source."""
    system = body["messages"][0]["content"]
    marker = next(m for language, m in MARKERS.items() if f"into {language}." in system)
    return f"{marker}: {last_user_text(body)}"


def _pert(language: str) -> Any:
    return load_registry("perturbations").get(f"translate_{language}")


def _endpoint(server: FakeOpenAIServer, **kw: Any) -> ChatEndpoint:
    return ChatEndpoint(model="fake-translator", base_url=server.base_url, **kw)


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-translation")
    configure_translation(None, None, [])
    yield
    configure_translation(None, None, [])


def test_shipped_translations_cover_the_sample_suite_offline() -> None:
    sample_data = Path(translation.__file__).parents[2] / "sources" / "sample_data"
    lbcoco = json.loads((sample_data / "lbcoco.json").read_text(encoding="utf-8"))
    pope = json.loads((sample_data / "pope.json").read_text(encoding="utf-8"))
    objects = {o for image in pope["images"] for o in [*image["present"], *sum(image["absent"].values(), [])]}
    questions = [q["question"] for image in lbcoco["images"] for q in image["questions"]]
    questions += [pope["question_template"].format(object=o) for o in sorted(objects)]
    for language in ("arabic", "greek", "hindi"):
        pert = _pert(language)
        pert.prepare(questions, 3)
        for question in questions:
            text = pert.apply(question, 3, make_rng(0))
            assert in_target_script(text, language) and text != question
            assert pert.apply(question, 1, make_rng(9)) == pert.apply(question, 5, make_rng(1))


def test_missing_translation_without_translator_says_how_to_configure() -> None:
    with pytest.raises(TranslationUnavailableError, match="`translator_base_url`") as info:
        _pert("greek").prepare(["Is this question unknown?"], 3)
    assert "`translations` FILE" in str(info.value) and "OPENAI_API_KEY" in str(info.value)
    with pytest.raises(TranslationUnavailableError):
        _pert("greek").apply("Is this question unknown?", 3, make_rng(0))


@pytest.mark.slow  # the SDK backs off 0.5 s, 1 s, 2 s ... between retries
def test_faults_end_translated_and_a_rerun_sends_nothing(tmp_path: Path) -> None:
    faults = FaultPlan(rate=0.3, stall_s=1.0, seed=5)
    cache = tmp_path / "translations.sqlite"
    with FakeOpenAIServer(fake_translation, faults=faults) as server:
        endpoint = _endpoint(server, timeout_s=0.5, max_retries=6, concurrency=16)
        configure_translation(endpoint, cache, [])
        _pert("hindi").prepare(QUESTIONS, 3)
        assert {r.outcome for r in server.requests} >= {"429", "500", "timeout", "garbage"}
        assert len(server.requests) <= len(QUESTIONS) * (1 + 6) * 2  # retries are bounded
        first = [_pert("hindi").apply(q, 3, make_rng(0)) for q in QUESTIONS]
        assert first == [f"{MARKERS['Hindi']}: {q}" for q in QUESTIONS]
        usage = translation_usage()["models"]["fake-translator"]
        assert usage["requests"] == server.ok_count() and usage["prompt_tokens"] > 0

        sent = len(server.requests)
        configure_translation(endpoint, cache, [])  # a new run: nothing in memory, same cache
        _pert("hindi").prepare(QUESTIONS, 5)
        assert [_pert("hindi").apply(q, 5, make_rng(1)) for q in QUESTIONS] == first
        assert len(server.requests) == sent
        assert translation_usage()["models"]["fake-translator"]["cache_hits"] == len(QUESTIONS)


def test_failures_are_reported_after_bounded_retries_and_retried_next_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(fake_translation, faults=FaultPlan(rate=1.0, kinds=("500",))) as server:
        configure_translation(_endpoint(server, max_retries=2), tmp_path / "c.sqlite", [])
        with pytest.raises(RemoteError, match="4 of 4 questions could not be"):  # a failure while working: exit 1
            _pert("greek").prepare(QUESTIONS[:4], 3)
        assert len(server.requests) == 4 * 3
        server.faults.rate = 0.0
        _pert("greek").prepare(QUESTIONS[:4], 3)  # nothing failed was cached: fetched now
        assert _pert("greek").apply(QUESTIONS[0], 3, make_rng(0)) == f"{MARKERS['Greek']}: {QUESTIONS[0]}"


def test_an_english_echo_is_rejected_and_asked_again_next_run(tmp_path: Path) -> None:
    replies = {"text": last_user_text}
    with FakeOpenAIServer(lambda body: replies["text"](body)) as server:
        configure_translation(_endpoint(server), tmp_path / "c.sqlite", [])
        with pytest.raises(RemoteError, match="failed validation"):
            _pert("arabic").prepare(QUESTIONS[:1], 3)
        assert len(server.requests) == 3  # the first answer and two validation retries
        replies["text"] = fake_translation
        configure_translation(_endpoint(server), tmp_path / "c.sqlite", [])
        _pert("arabic").prepare(QUESTIONS[:1], 3)  # the rejected reply in the cache is not reused
        assert len(server.requests) == 4
        assert _pert("arabic").apply(QUESTIONS[0], 3, make_rng(0)).startswith(MARKERS["Arabic"])


def test_special_tokens_are_kept_out_of_the_request_and_put_back(tmp_path: Path) -> None:
    question = "<image>\nWhat is on the table?"
    with FakeOpenAIServer(fake_translation) as server:
        configure_translation(_endpoint(server), tmp_path / "c.sqlite", [])
        out = _pert("greek").apply(question, 3, make_rng(0))
        assert out == f"<image>\n{MARKERS['Greek']}: What is on the table?"
        assert last_user_text(server.requests[0].body) == "What is on the table?"
        system = server.requests[0].body["messages"][0]["content"]
        assert "into Greek." in system and server.requests[0].body["temperature"] == 0


def test_imported_translations_need_no_api_and_bad_files_name_the_record(tmp_path: Path) -> None:
    good = tmp_path / "mine.jsonl"
    rows = [{"source": q, "language": "el", "text": f"μετάφραση {i}"} for i, q in enumerate(QUESTIONS)]
    good.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    configure_translation(None, None, [good])
    _pert("greek").prepare(QUESTIONS, 2)
    assert _pert("greek").apply(QUESTIONS[3], 2, make_rng(0)) == "μετάφραση 3"

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"source": "x", "language": "el"}) + "\n")
    with pytest.raises(DataFormatError, match=r"bad.jsonl: record 2: missing field 'text'"):
        configure_translation(None, None, [bad])
    bad.write_text(json.dumps({"source": "x", "language": "klingon", "text": "y"}) + "\n")
    with pytest.raises(DataFormatError, match=r"record 1: field 'language': unknown language"):
        configure_translation(None, None, [bad])
