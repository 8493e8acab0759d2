"""The shared chat client against the loopback OpenAI-compatible server (tests/fixtures)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from robustbench_mllm.llm.cache import ResponseCache
from robustbench_mllm.llm.client import ChatClient, ChatRequest, run_chat_many
from robustbench_mllm.llm.redact import redact
from robustbench_mllm.llm.settings import ChatEndpoint, EndpointConfigError
from robustbench_mllm.llm.usage import UsageMeter
from tests.fixtures.fake_openai import FakeOpenAIServer, FaultPlan, last_user_text

KEY = "sk-test-DISTINCTIVE-7f3a9c"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def _endpoint(server: FakeOpenAIServer, **kw: Any) -> ChatEndpoint:
    return ChatEndpoint(model="gpt-4o", base_url=server.base_url, timeout_s=1.0, **kw)


def _requests(n: int) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"question {i}"}]) for i in range(n)]


def test_faults_lose_nothing_and_rerun_sends_nothing(tmp_path: Path) -> None:
    faults = FaultPlan(rate=0.3, stall_s=1.5, seed=3)
    with FakeOpenAIServer(lambda b: "echo " + last_user_text(b), faults=faults) as server:
        endpoint = _endpoint(server, concurrency=16)
        usage = UsageMeter()
        with ResponseCache(tmp_path / "c.sqlite") as cache:
            results = run_chat_many(endpoint, _requests(30), cache=cache, usage=usage)
            outcomes = Counter(r.outcome for r in server.requests)
            assert set(outcomes) == {"ok", "429", "500", "timeout", "garbage"}  # every fault seen
            assert len(results) == 30
            for i, result in enumerate(results):  # in request order, each ok or with a reason
                assert result.text == f"echo question {i}" if result.ok else result.error
            sent = len(server.requests)
            again = run_chat_many(endpoint, _requests(30), cache=cache, usage=usage)
        failed = sum(not r.ok for r in results)
        assert len(server.requests) - sent == failed  # only transport failures are retried
        assert [r.text for r in again if r.ok] == [r.text for r in results if r.ok]
        assert usage.by_model()["gpt-4o"].requests == server.ok_count()
        assert usage.by_model()["gpt-4o"].cache_hits == 30 - failed


def test_validator_retries_then_keeps_last_text_and_reports(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()

    def responder(body: dict[str, Any]) -> str:
        question = last_user_text(body)
        calls[question] += 1
        if question == "never":
            return "no scores here"
        return "8 7" if calls[question] >= 3 else "thinking..."

    with FakeOpenAIServer(responder) as server:
        requests = [ChatRequest([{"role": "user", "content": q}]) for q in ("late", "never")]
        is_valid = lambda text: text == "8 7"  # noqa: E731
        with ResponseCache(tmp_path / "c.sqlite") as cache:
            late, never = run_chat_many(
                _endpoint(server), requests, cache=cache, validator=is_valid, validation_retries=2
            )
            assert (late.ok, late.text, late.attempts) == (True, "8 7", 3)
            assert (never.ok, never.text, never.attempts) == (False, "no scores here", 3)
            assert "validation" in (never.error or "")
            sent = len(server.requests)
            _, cached_never = run_chat_many(_endpoint(server), requests, cache=cache, validator=is_valid)
            assert len(server.requests) == sent and cached_never.cached and not cached_never.ok
            refreshed = run_chat_many(_endpoint(server), requests[:1], cache=cache, refresh=True)
            assert len(server.requests) == sent + 1 and refreshed[0].text == "8 7"


def test_concurrency_is_bounded() -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def responder(body: dict[str, Any]) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return "ok"

    with FakeOpenAIServer(responder) as server:
        results = run_chat_many(_endpoint(server, concurrency=3), _requests(12))
    assert all(r.ok for r in results)
    assert peak[0] == 3


def test_retry_after_is_honoured() -> None:
    """The SDK's own backoff would wait < 1 s before its first retry; the server asks for 2 s."""
    faults = FaultPlan(rate=1.0, kinds=("429",), retry_after="2")
    with FakeOpenAIServer(lambda b: "never", faults=faults) as server:
        (result,) = run_chat_many(_endpoint(server, max_retries=1), _requests(1))
    assert not result.ok and "429" in (result.error or "")
    first, second = server.requests
    assert second.at - first.at >= 1.9


def test_azure_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from robustbench_mllm.llm.settings import chat_model

    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION", "AZURE_OPENAI_API_VERSION", "AZURE_OPENAI_DEPLOYMENT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(EndpointConfigError, match="AZURE_OPENAI_ENDPOINT"):
        ChatEndpoint(azure=True).with_environment()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2024-06-01")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "judge-deploy")
    resolved = ChatEndpoint(model=chat_model(None, azure=True), azure=True).with_environment()
    assert (resolved.model, resolved.base_url, resolved.api_version) == (
        "judge-deploy", "https://res.openai.azure.com", "2024-06-01")
    assert resolved.key_variable == "AZURE_OPENAI_API_KEY"
    assert chat_model(None, azure=False) == "gpt-4o" and chat_model("m", azure=True) == "m"
    assert ChatEndpoint(base_url="http://x/v1").with_environment() == ChatEndpoint(base_url="http://x/v1")


def test_azure_route_images_and_sync_wrapper_inside_a_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TEST_KEY", KEY)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is it"}, image]}]
    with FakeOpenAIServer(lambda b: "a cat") as server:
        endpoint = ChatEndpoint(
            model="my-deploy", base_url=server.root_url, azure=True, api_version="2024-10-21",
            api_key_env="AZURE_TEST_KEY", timeout_s=1.0,
        )

        async def inside_loop() -> list[Any]:
            return run_chat_many(endpoint, [ChatRequest(messages)])

        (result,) = asyncio.run(inside_loop())
    assert result.text == "a cat"
    (recorded,) = server.requests
    assert recorded.path.startswith("/openai/deployments/my-deploy/chat/completions")
    assert recorded.body["messages"] == messages


def test_errors_and_logs_never_carry_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = ChatEndpoint(model="gpt-4o", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout_s=0.5)

    async def run() -> Any:
        async with ChatClient(endpoint) as client:
            logging.getLogger("openai._base_client").debug("headers {'Authorization': 'Bearer %s'}", KEY)
            return await client.chat_one(ChatRequest([{"role": "user", "content": "hi"}]))

    result = asyncio.run(run())
    assert not result.ok and "Connection" in (result.error or "")
    assert KEY not in caplog.text and "{'Authorization': '*** ***'}" in caplog.text
    assert KEY not in redact(f"Error: api-key: {KEY}; Authorization: Bearer {KEY}", ())
    assert redact(f"key={KEY} here", (KEY,)) == "key=*** here"
