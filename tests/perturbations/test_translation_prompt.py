"""The translation prompt: ours by default, a user's file for a paper's wording; exactly what is
sent (model, temperature, roles, wording) through the loopback OpenAI-compatible server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from robustbench_mllm.errors import ConfigError, MissingResourceError
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.perturbations.text.translation import configure_translation
from robustbench_mllm.perturbations.text.translation_prompt import (
    DEFAULT_PROMPT,
    SYSTEM_PROMPT,
    read_translation_prompt,
)
from robustbench_mllm.registry import load_registry
from robustbench_mllm.seeding import make_rng
from tests.fixtures.fake_openai import FakeOpenAIServer

QUESTION = "What is the man holding in his hand?"
PAPER_A3 = "Please translate a {SOURCE} sentence provided by the user into {TARGET}."


def _greek(body: dict[str, Any]) -> str:
    return "Ελληνικά: " + body["messages"][-1]["content"][-20:]


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-translation-prompt")
    configure_translation(None, None, [])
    yield
    configure_translation(None, None, [])


def _sent(tmp_path: Path, prompt: Any) -> dict[str, Any]:
    with FakeOpenAIServer(_greek) as server:
        configure_translation(ChatEndpoint(model="gpt-4o", base_url=server.base_url), tmp_path / "c.sqlite", [],
                              prompt)
        load_registry("perturbations").get("translate_greek").apply(QUESTION, 3, make_rng(0))
        assert len(server.requests) == 1
        return server.requests[0].body


def test_our_prompt_is_the_default_gpt_4o_at_temperature_0(tmp_path: Path) -> None:
    body = _sent(tmp_path, DEFAULT_PROMPT)
    assert body["model"] == "gpt-4o" and body["temperature"] == 0
    assert body["messages"] == [{"role": "system", "content": SYSTEM_PROMPT.replace("{language}", "Greek")},
                                {"role": "user", "content": QUESTION}]
    assert DEFAULT_PROMPT.sha256 == hashlib.sha256(SYSTEM_PROMPT.encode("utf-8")).hexdigest()


def test_a_prompt_file_sends_its_exact_wording_as_the_system_message(tmp_path: Path) -> None:
    path = tmp_path / "paper_a3.txt"
    path.write_text(PAPER_A3 + "\n", encoding="utf-8")
    prompt = read_translation_prompt(path)
    assert prompt.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    body = _sent(tmp_path, prompt)
    assert body["model"] == "gpt-4o" and body["temperature"] == 0
    assert body["messages"] == [
        {"role": "system", "content": "Please translate a English sentence provided by the user into Greek."},
        {"role": "user", "content": QUESTION},
    ]


def test_a_prompt_with_the_sentence_inside_is_one_user_message(tmp_path: Path) -> None:
    path = tmp_path / "inline.txt"
    path.write_text("Translate the {source_language} sentence into {TARGET_LANGUAGE}: {sentence}", encoding="utf-8")
    body = _sent(tmp_path, read_translation_prompt(path))
    assert body["messages"] == [{"role": "user", "content": f"Translate the English sentence into Greek: {QUESTION}"}]


def test_bad_prompt_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(MissingResourceError, match="`translation_prompt`"):
        read_translation_prompt(tmp_path / "none.txt")
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("Translate into {target} in the style of {author}.", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown.txt: unknown placeholder\(s\) \['author'\]"):
        read_translation_prompt(unknown)
    no_target = tmp_path / "no_target.txt"
    no_target.write_text("Translate this sentence.", encoding="utf-8")
    with pytest.raises(ConfigError, match="must name the target language"):
        read_translation_prompt(no_target)
