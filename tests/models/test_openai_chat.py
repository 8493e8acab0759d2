"""The openai adapter against the loopback OpenAI-compatible server."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from robustbench_mllm.models.base import GenerationParams, PartialGenerationError
from robustbench_mllm.models.detect import detect_adapter, load_adapter
from robustbench_mllm.models.openai_chat import OpenAIChatAdapter
from robustbench_mllm.models.options import LoadOptions
from tests.fixtures.fake_openai import FakeOpenAIServer, FaultPlan, last_user_text

KEY = "sk-test-adapter-5d1e"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def describe_image(body: dict[str, Any]) -> str:
    """Answer with the prompt and the size of the image the request carried."""
    parts = body["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    header, payload = url.split(",", 1)
    assert header == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    return f"{last_user_text(body)} {image.size[0]}x{image.size[1]}"


def batch_of(count: int) -> list[tuple[Image.Image, str]]:
    return [(Image.new("RGB", (10 + i, 7), (i, 0, 0)), f"question {i}") for i in range(count)]


def test_served_model_name_goes_to_openai() -> None:
    assert detect_adapter("llava-hf/llava-1.5-7b-hf", base_url="http://127.0.0.1:1/v1") == "openai"
    with pytest.raises(FileNotFoundError, match="`base_url`"):
        detect_adapter("llava-hf/llava-1.5-7b-hf")


def test_images_travel_as_png_data_urls_and_retries_absorb_faults() -> None:
    faults = FaultPlan(rate=0.3, kinds=("429", "500", "garbage"), seed=2)
    with FakeOpenAIServer(describe_image, faults=faults) as server:
        adapter = load_adapter("served-llava", LoadOptions(base_url=server.base_url, concurrency=4))
        assert isinstance(adapter, OpenAIChatAdapter)
        answers = adapter.generate(batch_of(6), GenerationParams(max_new_tokens=7))
    assert answers == [f"question {i} {10 + i}x7" for i in range(6)]
    assert any(r.outcome != "ok" for r in server.requests)  # the faults did happen
    ok = [r.body for r in server.requests if r.outcome == "ok"]
    assert {b["model"] for b in ok} == {"served-llava"}
    assert {b["max_tokens"] for b in ok} == {7}
    assert KEY not in str(adapter.describe())


def test_items_that_keep_failing_come_back_as_a_partial_result() -> None:
    faults = FaultPlan(rate=0.5, kinds=("500",), seed=0)
    with FakeOpenAIServer(describe_image, faults=faults) as server:
        adapter = load_adapter("m", LoadOptions(base_url=server.base_url, max_retries=0))
        with pytest.raises(PartialGenerationError) as caught:
            adapter.generate(batch_of(8), GenerationParams())
    answers = caught.value.answers
    assert len(answers) == 8 and None in answers
    assert all(a == f"question {i} {10 + i}x7" for i, a in enumerate(answers) if a is not None)
    assert len(caught.value.errors) == answers.count(None)
